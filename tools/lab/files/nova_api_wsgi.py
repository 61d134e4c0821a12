"""nova-api's WSGI application for gunicorn (nova 34 has no nova-api script).

nova parses ``sys.argv`` with oslo.config (meant for uwsgi --pyargv), which
rejects gunicorn's command line: hide it.
"""
import sys

sys.argv = sys.argv[:1]
from nova.wsgi.osapi_compute import application  # noqa: E402,F401

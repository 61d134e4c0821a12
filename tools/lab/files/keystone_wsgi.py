"""keystone's WSGI application for gunicorn.

keystone parses ``sys.argv`` with oslo.config, which rejects gunicorn's own
command line (the worker exits 2, gunicorn respawns it forever): hide it.
"""
import sys

sys.argv = sys.argv[:1]
from keystone.wsgi.api import application  # noqa: E402,F401

"""masakari-api's WSGI application for gunicorn.

masakari parses ``sys.argv`` with oslo.config, which rejects gunicorn's
command line: replace it with the lab's two config files (the base one and
the variant, default or tuned), from OS_MASAKARI_CONFIG_DIR.
"""
import os
import sys

_ETC = os.environ['OS_MASAKARI_CONFIG_DIR']
sys.argv = [sys.argv[0],
            '--config-file', os.path.join(_ETC, 'masakari.conf'),
            '--config-file', os.path.join(_ETC, 'masakari-variant.conf')]
from masakari.wsgi.api import application  # noqa: E402,F401

"""WSGI entry point: ``gunicorn wsgi:app``. Configuration comes from ``$AUTOCONF_CONFIG``."""

from autoconf import create_app
from autoconf.logs import configure

configure()
app = create_app()

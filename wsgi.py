"""WSGI entry point: ``gunicorn wsgi:app``. Configuration comes from ``$AUTOCONF_CONFIG``."""

from autoconf import create_app

app = create_app()

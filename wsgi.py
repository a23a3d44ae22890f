"""Kept for ``gunicorn wsgi:app`` from a checkout; the entry point is ``autoconf.wsgi:app``."""

from autoconf.wsgi import app as app

"""WSGI entry point: ``gunicorn wsgi:app``. Configuration comes from ``$AUTOCONF_CONFIG``."""

from autoconf import create_app
from autoconf.logs import configure

configure()  # start-up messages in the default format, before the configuration is read
app = create_app()
configure(
    app.extensions["autoconf"].settings.logging.format,
    app.extensions["autoconf"].settings.logging.level,
)

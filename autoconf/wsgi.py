"""The WSGI application for gunicorn: ``autoconf.wsgi:app``.

Configuration comes from ``$AUTOCONF_CONFIG`` (else the bundled example). Logging is set up
from that configuration before anything is logged, so ``logging.format = "text"`` applies to
the start-up lines too.
"""

from __future__ import annotations

from flask import Flask

from autoconf.app import create_app
from autoconf.config import load_settings
from autoconf.logs import configure


def _build() -> Flask:
    settings = load_settings()
    configure(settings.logging.format, settings.logging.level)
    return create_app(settings)


app = _build()

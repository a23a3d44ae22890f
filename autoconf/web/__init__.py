"""The HTTP shell: blueprints per client format, one error mapping."""

from __future__ import annotations

from flask import Flask

from autoconf.web import autodiscover
from autoconf.web import autodiscover_json
from autoconf.web import dav
from autoconf.web import diag
from autoconf.web import errors
from autoconf.web import health
from autoconf.web import hosts
from autoconf.web import instrument
from autoconf.web import limits
from autoconf.web import mobileconfig
from autoconf.web import routing
from autoconf.web import thunderbird
from autoconf.web import tls
from autoconf.web.common import state


def init_app(app: Flask) -> None:
    """Register every blueprint and the error handlers."""
    app.url_map.converters[routing.NAME] = routing.CaseInsensitive
    app.url_map.converters[routing.REST] = routing.Rest
    app.register_blueprint(thunderbird.bp)
    app.register_blueprint(autodiscover.bp)
    app.register_blueprint(autodiscover_json.bp)
    app.register_blueprint(mobileconfig.bp)
    app.register_blueprint(dav.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(tls.bp)
    with app.app_context():
        diagnostics = state().settings.diagnostics.enabled
    if diagnostics:
        app.register_blueprint(diag.bp)
        errors.RENDERERS[diag.bp.name] = diag.error_page
    errors.init_app(app)
    instrument.init_app(app)
    hosts.init_app(app)
    limits.init_app(app)

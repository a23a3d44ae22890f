"""The HTTP shell: one blueprint per client format, each answering its own errors."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from autoconf.web import asked
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
from autoconf.web.state import state_of


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
    if state_of(app).settings.diagnostics.enabled:
        app.register_blueprint(diag.bp)
    errors.init_app(app)
    app.before_request(_admission(app))
    app.after_request(instrument.finish)


def _admission(app: Flask) -> Callable[[], None]:
    """The one hook before every view: the request is timed from here, then refused when
    its Host is not served here or its declared body is over the cap."""
    check_host = hosts.checker(app)
    limit = state_of(app).settings.http.max_body_bytes

    def admit() -> None:
        asked.begin()
        check_host()
        limits.check(limit)

    return admit

"""Host header validation, before any view runs (security.md section 9).

Only the served domains, their ``autoconfig.``/``autodiscover.`` names, loopback and the
configured ``http.trusted_hosts`` are accepted, case-insensitively and with any port.
Checked in ``before_request`` rather than left to Werkzeug's ``TRUSTED_HOSTS``, which only
fires when a view reads ``request.host`` (GHSA-94mf-xfg5-r247) and compares case-sensitively.
Probes and scrapers address pods by IP, so the health endpoints are exempt.
"""

from __future__ import annotations

from flask import Flask
from flask import request

from autoconf.errors import UntrustedHostError
from autoconf.web.common import host_name
from autoconf.web.common import state

EXEMPT_BLUEPRINTS = frozenset({"health"})


def _check() -> None:
    if request.blueprint in EXEMPT_BLUEPRINTS:
        return
    if host_name(request.host) not in state().settings.trusted_hosts:
        raise UntrustedHostError("Host not served")


def init_app(app: Flask) -> None:
    """Refuse requests for hosts this service does not answer for."""
    app.before_request(_check)

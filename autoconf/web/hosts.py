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
from autoconf.web.state import EXTENSION

EXEMPT_BLUEPRINTS = frozenset({"health"})


def init_app(app: Flask) -> None:
    """Refuse requests for hosts this service does not answer for."""
    # Built once: the set holds three names per served domain (300 000 names for 100 000
    # domains), far too much work to rebuild on every request.
    trusted = app.extensions[EXTENSION].settings.trusted_hosts

    def check() -> None:
        if request.blueprint in EXEMPT_BLUEPRINTS:
            return
        if host_name(request.host) not in trusted:
            raise UntrustedHostError("Host not served")

    app.before_request(check)

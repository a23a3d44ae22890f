"""Host header validation, before any view runs (SECURITY.md, "Input handling").

Only the served domains, their ``autoconfig.``/``autodiscover.`` names, loopback and the
configured ``http.trusted_hosts`` are accepted, case-insensitively and with any port.
Checked before any view (in the one request hook of :func:`autoconf.web.init_app`) rather
than left to Werkzeug's ``TRUSTED_HOSTS``, which only fires when a view reads
``request.host`` (GHSA-94mf-xfg5-r247) and compares case-sensitively.
Probes and scrapers address pods by IP, so the health endpoints are exempt.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask import request

from autoconf.errors import UntrustedHostError
from autoconf.web.common import host_name
from autoconf.web.state import state_of

EXEMPT_BLUEPRINTS = frozenset({"health"})


def checker(app: Flask) -> Callable[[], None]:
    """The check that refuses requests for hosts this service does not answer for."""
    # Built once: the set holds three names per served domain (300 000 names for 100 000
    # domains), far too much work to rebuild on every request.
    trusted = state_of(app).settings.trusted_hosts

    def check() -> None:
        if request.blueprint in EXEMPT_BLUEPRINTS:
            return
        if host_name(request.host) not in trusted:
            raise UntrustedHostError("Host not served")

    return check

"""Host header validation, before any view runs (docs/security-model.md, Input handling).

Only the served domains, their ``autoconfig.``/``autodiscover.`` names, loopback and the
configured ``http.trusted_hosts`` are accepted, case-insensitively and with any port.
Checked in ``before_request`` rather than left to Werkzeug's ``TRUSTED_HOSTS``, which only
fires when a view reads ``request.host`` (GHSA-94mf-xfg5-r247) and compares case-sensitively.
Probes and scrapers address pods by IP, so the health endpoints are exempt, and so is
``/tls-ask``, which Caddy calls on loopback.

With ``[hosting]`` on, the served domains are not known in advance: any Host that is
``autoconfig.<d>``, ``autodiscover.<d>`` or ``<d>`` for a name ``<d>`` that could be a
hosted mail domain (:func:`autoconf.hosting.admissible`) passes, without DNS; the view's
decision then answers 404 for a domain that is not served.
"""

from __future__ import annotations

from flask import Flask
from flask import request

from autoconf.address import parse_domain
from autoconf.app import EXTENSION
from autoconf.errors import InvalidAddressError
from autoconf.errors import UntrustedHostError
from autoconf.hosting import admissible
from autoconf.web.common import SERVICE_PREFIXES
from autoconf.web.common import host_name

EXEMPT_BLUEPRINTS = frozenset({"health", "tls_ask"})


def could_be_hosted(name: str) -> bool:
    """Whether Host ``name`` (no port, lower case) names a possible hosted mail domain."""
    try:
        domain = parse_domain(name)
    except InvalidAddressError:
        return False
    for prefix in SERVICE_PREFIXES:
        if domain.startswith(prefix):
            domain = domain[len(prefix) :]
            break
    return not admissible(domain)


def init_app(app: Flask) -> None:
    """Refuse requests for hosts this service does not answer for."""
    settings = app.extensions[EXTENSION].settings
    # Built once: the set holds three names per served domain (300 000 names for 100 000
    # domains), far too much work to rebuild on every request.
    trusted = settings.trusted_hosts
    hosting = settings.hosting.enabled

    def check() -> None:
        if request.blueprint in EXEMPT_BLUEPRINTS:
            return
        name = host_name(request.host)
        if name in trusted:
            return
        if hosting and could_be_hosted(name):
            return
        raise UntrustedHostError("Host not served")

    app.before_request(check)

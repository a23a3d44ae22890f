"""Host header validation, before any view runs (docs/security-model.md, Input handling).

Only the served domains, their ``autoconfig.``/``autodiscover.`` names, loopback and the
configured ``http.trusted_hosts`` are accepted, case-insensitively and with any port.
Checked before any view (in the one request hook of :func:`autoconf.web.init_app`) rather
than left to Werkzeug's ``TRUSTED_HOSTS``, which only fires when a view reads
``request.host`` (GHSA-94mf-xfg5-r247) and compares case-sensitively.
Probes and scrapers address pods by IP, so the health endpoints are exempt, and so is
``/tls-ask``, which Caddy calls on loopback.

With ``[hosting]`` on, the served domains are not known in advance: any Host that is
``autoconfig.<d>``, ``autodiscover.<d>`` or ``<d>`` for a name ``<d>`` that could be a
hosted mail domain (:func:`autoconf.hosting.admissible`) passes, without DNS; the view's
decision then answers 404 for a domain that is not served.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask import request

from autoconf.errors import UntrustedHostError
from autoconf.hosting import admissible
from autoconf.web.common import host_name
from autoconf.web.common import mail_domain
from autoconf.web.state import state_of

EXEMPT_BLUEPRINTS = frozenset({"health", "tls_ask"})


def could_be_hosted(host: str) -> bool:
    """Whether the Host header value ``host`` names a possible hosted mail domain (read
    through the same bounded memo as every view's :func:`~autoconf.web.common.host_domain`,
    so a hosted customer's Host is not run through IDNA on every request)."""
    domain = mail_domain(host)
    return domain is not None and not admissible(domain)


def checker(app: Flask) -> Callable[[], None]:
    """The check that refuses requests for hosts this service does not answer for."""
    settings = state_of(app).settings
    # Built once: the set holds three names per served domain (300 000 names for 100 000
    # domains), far too much work to rebuild on every request.
    trusted = settings.trusted_hosts
    hosting = settings.hosting.enabled

    def check() -> None:
        if request.blueprint in EXEMPT_BLUEPRINTS:
            return
        host = request.host
        if host_name(host) in trusted:
            return
        if hosting and could_be_hosted(host):
            return
        raise UntrustedHostError("Host not served")

    return check

"""``GET /tls-ask?domain=<name>``: may a front end get a certificate for this name?

The contract of Caddy's on-demand TLS ``ask`` endpoint (Caddy documentation, "Global
options" ``on_demand_tls``; Caddy 2.6 spells it ``ask <url>``, later versions ``permission
http``): Caddy calls it with the SNI name of a TLS handshake it has no certificate for and
obtains one only on a 2xx answer. A hoster cannot list thousands of customer names in a
certificate; with this endpoint Caddy issues one exactly for ``autoconfig.<d>`` and
``autodiscover.<d>`` of a served domain ``<d>`` (listed, or hosted by the same rule every
other endpoint applies), and for nothing else: an ``ask`` that says yes too easily lets
anyone make the service request certificates for names of their choosing until the CA's
rate limits block it.

Never for the public: the shipped front ends answer 404 themselves, and a request that came
through a proxy (it carries ``X-Forwarded-For`` or ``Forwarded``) is refused here too. Exempt
from the Host check, like the health endpoints (Caddy calls it on loopback).
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import request

from autoconf.address import parse_domain
from autoconf.errors import InvalidAddressError
from autoconf.errors import UnknownDomainError
from autoconf.web import responses
from autoconf.web.asked import Asked
from autoconf.web.asked import describe
from autoconf.web.common import SERVICE_PREFIXES
from autoconf.web.state import state

#: Not a client format: the ``format`` of its log lines and metrics is the blueprint's name.
FORMAT = "tls_ask"

#: Its refusals are the application's plain-text ones (:func:`autoconf.web.errors.plain`).
bp = Blueprint(FORMAT, __name__)

#: Headers every shipped front end adds; Caddy's own ``ask`` request carries neither.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED")


@bp.get("/tls-ask")
def ask() -> Response:
    """200 when ``domain`` is ``autoconfig.<d>``/``autodiscover.<d>`` of a served ``<d>``;
    404 for any other name; 503 (with Retry-After) when that cannot be decided now."""
    if any(header in request.environ for header in PROXY_HEADERS):
        raise UnknownDomainError("/tls-ask is not answered through a proxy")
    name = request.args.get("domain", "")
    try:
        domain = parse_domain(name)
    except InvalidAddressError:
        raise UnknownDomainError("not a domain name") from None
    mail_domain = next((domain[len(p) :] for p in SERVICE_PREFIXES if domain.startswith(p)), "")
    if not mail_domain:
        raise UnknownDomainError("not an autoconfig. or autodiscover. name")
    describe(Asked(format=FORMAT, domain=mail_domain))
    state().discoverer.primary(mail_domain)
    return responses.text("ok\n", status=200)

"""Autodiscover v2 (JSON) views, in any letter case (both forms are seen, mjl-/mox#200):

``GET /autodiscover/autodiscover.json?Email=<address>&Protocol=<p>`` and
``GET /autodiscover/autodiscover.json/v1.0/<address>?Protocol=<p>``. Refusals are
``{"ErrorCode": ..., "ErrorMessage": ...}`` (:func:`autodiscover_json.render_error`).
"""

from __future__ import annotations

import ipaddress

from flask import Blueprint
from flask import Response
from flask import request

from autoconf import discovery
from autoconf.address import parse_address
from autoconf.address import parse_domain
from autoconf.errors import DnsUnavailableError
from autoconf.errors import InvalidAddressError
from autoconf.errors import RequestError
from autoconf.formats import ClientFormat
from autoconf.formats import autodiscover_json
from autoconf.model import Status
from autoconf.web import errors
from autoconf.web import responses
from autoconf.web.asked import Asked
from autoconf.web.asked import describe
from autoconf.web.common import SERVICE_PREFIXES
from autoconf.web.common import describe_query
from autoconf.web.common import host_name
from autoconf.web.common import query_value
from autoconf.web.state import state

bp = Blueprint(ClientFormat.AUTODISCOVER_JSON, __name__)

PATH = '/<ci("autodiscover"):_dir>/<ci("autodiscover.json"):_file>'


def error_json(error: RequestError) -> Response:
    """``{"ErrorCode": ..., "ErrorMessage": ...}``, e.g. 400 InvalidProtocol."""
    body = autodiscover_json.render_error(error)
    return responses.json(body, responses.NO_STORE, status=error.error_status_hint)


bp.register_error_handler(RequestError, errors.handler(error_json))


@bp.get(PATH)
def by_query(**_segments: str) -> Response:
    """The address in ``Email`` (any case); without one, the Host's domain."""
    return answer(describe_query(ClientFormat.AUTODISCOVER_JSON, "email", "emailaddress"))


@bp.get(PATH + '/<ci("v1.0"):_version>/<rest:address>')
def by_path(address: str, **_segments: str) -> Response:
    """The address as the last path segment (mjl-/mox#200)."""
    parsed = parse_address(address)
    fmt = ClientFormat.AUTODISCOVER_JSON
    return answer(describe(Asked(format=fmt, domain=parsed.domain, address=parsed)))


def answer(asked: Asked) -> Response:
    """The protocol is checked first: a bad one costs no DNS query. The answer is
    private: the request URL holds the address."""
    protocol = autodiscover_json.parse_protocol(query_value("protocol"))
    served = state().discoverer.served(asked.domain)
    pox_host = ""
    if protocol is autodiscover_json.V2Protocol.AUTODISCOVER_V1:
        pox_host = _pox_host(served.provider.domain, served.version)
    body = autodiscover_json.render(protocol, served.provider, pox_host=pox_host)
    return responses.json(body, responses.PER_USER)


def _pox_host(primary: str, version: int) -> str:
    """Where Outlook should send its POX request ("" for ``autodiscover.<primary>``).

    ``autodiscover.<primary>`` is only a convention: if that name is not deployed, the
    v2 answer sends Outlook nowhere. So, in this order: the name this request arrived at,
    when it is one of ours (it demonstrably reaches this service); else the target of the
    domain's ``_autodiscover._tcp`` SRV record (what Outlook itself would try next,
    [MS-OXDSCLI] 3.1.5.1), under the same trust policy as every other target; else "".
    """
    arrived = _served_name(host_name(request.host))
    if arrived:
        return arrived
    current = state()
    question = discovery.autodiscover_question(primary)

    def ask() -> str:
        rrset = current.discoverer.source.ask([question]).get(question)
        if rrset is None or rrset.status is Status.FAILED:
            raise DnsUnavailableError(f"{question[0]} SRV: no answer")
        return discovery.autodiscover_host(primary, rrset, current.settings.dns.trust)

    # One question per settings version, kept with the rendered documents: the answer
    # lives as long as the domain's other DNS data. A failure is not kept: the default
    # is answered and the next request asks again.
    try:
        return current.documents.built((ClientFormat.AUTODISCOVER_JSON, version, "srv"), str, ask)
    except DnsUnavailableError:
        return ""


def _served_name(host: str) -> str:
    """``host`` as a DNS name when it is one of ours (a served domain or alias, one of
    their ``autoconfig.``/``autodiscover.`` names, an ``http.trusted_hosts`` entry), else
    "". Loopback and IP literals never are: Outlook cannot use them for HTTPS."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return ""
    try:
        name = parse_domain(host)
    except InvalidAddressError:
        return ""
    settings = state().settings
    if name in settings.http.trusted_hosts:
        return name
    base = next((name[len(p) :] for p in SERVICE_PREFIXES if name.startswith(p)), name)
    if settings.primary_of(name) or settings.primary_of(base):
        return name
    return ""

"""Autodiscover v2 (JSON) views (clients.md section 8), in any letter case:

``GET /autodiscover/autodiscover.json?Email=<address>&Protocol=<p>`` and
``GET /autodiscover/autodiscover.json/v1.0/<address>?Protocol=<p>``.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response

from autoconf.address import parse_address
from autoconf.formats import autodiscover_json
from autoconf.web.common import query_domain
from autoconf.web.common import query_value
from autoconf.web.common import state

bp = Blueprint("autodiscover_json", __name__)

PATH = '/<ci("autodiscover"):_dir>/<ci("autodiscover.json"):_file>'
JSON = "application/json"


@bp.get(PATH)
def by_query(**_segments: str) -> Response:
    """The address in ``Email`` (any case); without one, the Host's domain."""
    return answer(query_domain("email", "emailaddress"))


@bp.get(PATH + '/<ci("v1.0"):_version>/<path:address>')
def by_path(address: str, **_segments: str) -> Response:
    """The address as the last path segment (mjl-/mox#200)."""
    return answer(parse_address(address).domain)


def answer(domain: str) -> Response:
    """The protocol is checked first: a bad one costs no DNS query."""
    protocol = autodiscover_json.parse_protocol(query_value("protocol"))
    provider = state().discoverer.provider(domain)
    return json_response(autodiscover_json.render(protocol, provider), status=200)


def json_response(body: bytes, *, status: int) -> Response:
    """A JSON answer, never stored by shared caches (the request URL holds the address)."""
    response = Response(body, status=status, content_type=JSON)
    response.headers["Cache-Control"] = "private, no-store"
    return response

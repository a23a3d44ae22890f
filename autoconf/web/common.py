"""Helpers shared by the views: state access, the requested domain, response building."""

from __future__ import annotations

from flask import Response
from flask import current_app
from flask import request

from autoconf import requestlog
from autoconf.address import Address
from autoconf.address import parse_address
from autoconf.address import parse_domain
from autoconf.app import EXTENSION
from autoconf.app import State
from autoconf.errors import InvalidAddressError
from autoconf.errors import UnknownDomainError

#: Host prefixes clients put in front of the mail domain (clients.md section 0).
SERVICE_PREFIXES = ("autoconfig.", "autodiscover.")
XML = "text/xml; charset=utf-8"


def state() -> State:
    """The application's :class:`State`."""
    found: State = current_app.extensions[EXTENSION]
    return found


def host_name(host: str) -> str:
    """``Host`` without port or IPv6 brackets, lower-cased, trailing dot removed."""
    if host.startswith("["):
        name = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        name = host.partition(":")[0]
    else:
        name = host
    return name.lower().rstrip(".")


def host_domain() -> str:
    """The mail domain named by the Host header (``autoconfig.<d>``, ``autodiscover.<d>``
    or ``<d>``), normalised like any other domain.

    :raises UnknownDomainError: when the Host header is not a domain name: nothing is
        served there, which is not the client's fault (Thunderbird needs a plain 404).
    """
    host = host_name(request.host)
    try:
        domain = parse_domain(host)
    except InvalidAddressError:
        raise UnknownDomainError("Host is not a domain name") from None
    for prefix in SERVICE_PREFIXES:
        if domain.startswith(prefix):
            return domain[len(prefix) :]
    return domain


def query_value(*names: str) -> str | None:
    """The first non-blank value among the query parameters ``names``, matched
    case-insensitively (clients differ: ``emailaddress``, ``Email``, ``Protocol``...)."""
    wanted = {n.lower() for n in names}
    for key, value in request.args.items(multi=True):
        if key.lower() in wanted and value.strip():
            return value
    return None


def query_address(*names: str) -> Address | None:
    """The address in the first present query parameter of ``names``, if any.

    :raises InvalidAddressError: when the parameter is present but not an address.
    """
    value = query_value(*names)
    if value is None:
        return None
    address = parse_address(value)
    requestlog.note_address(str(address))
    return address


def query_domain(*names: str) -> str:
    """Domain of the address in the first present query parameter of ``names``, else the
    Host header's. Parameter names are matched case-insensitively (clients differ).
    """
    address = query_address(*names)
    return address.domain if address else host_domain()


def xml_response(
    body: bytes, *, status: int = 200, max_age: int | None = None, etag: str = ""
) -> Response:
    """An XML answer; ``max_age`` makes it publicly cacheable, else it is private.

    ``etag`` (quoted, only with ``max_age``) is sent as the validator, and a request whose
    ``If-None-Match`` names it gets 304 without a body (RFC 9110 section 13.1.2).
    """
    if max_age is None:
        response = Response(body, status=status, content_type=XML)
        response.headers["Cache-Control"] = "private, no-store"
        return response
    if etag and _not_modified(etag):
        response = Response(status=304)
    else:
        response = Response(body, status=status, content_type=XML)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    if etag:
        response.headers["ETag"] = etag
    return response


def _not_modified(etag: str) -> bool:
    # RFC 9110 section 13.1.2: If-None-Match uses the weak comparison, "*" matches any.
    # The environ, not request.headers: a missing header costs an exception there.
    if "HTTP_IF_NONE_MATCH" not in request.environ:
        return False
    return request.if_none_match.contains_weak(etag.strip('"'))

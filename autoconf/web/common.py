"""Helpers shared by the views: state access, the requested domain, response building."""

from __future__ import annotations

import time

from flask import Response
from flask import current_app
from flask import request
from werkzeug.http import http_date

from autoconf import requestlog
from autoconf.address import Address
from autoconf.address import parse_address
from autoconf.address import parse_domain
from autoconf.app import EXTENSION
from autoconf.app import State
from autoconf.errors import InvalidAddressError
from autoconf.errors import UnknownDomainError

#: Host prefixes clients put before the mail domain (FetchConfig.sys.mjs, [MS-OXDSCLI] 3.1.5.1).
SERVICE_PREFIXES = ("autoconfig.", "autodiscover.")
XML = "text/xml; charset=utf-8"
#: Names the mail domain (A-label) a cacheable answer was made for; the shipped nginx
#: stores an answer only under that domain and hides the header from clients.
DOMAIN_HEADER = "X-Autoconf-Domain"


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
    body: bytes,
    *,
    status: int = 200,
    max_age: int | None = None,
    domain: str = "",
    etag: str = "",
) -> Response:
    """An XML answer; with ``max_age`` it may be reused for that long by anyone asking
    for ``domain`` (see :func:`cacheable`), else it is private and never stored.

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
    if etag:
        response.headers["ETag"] = etag
    return cacheable(response, domain=domain, max_age=max_age)


def cacheable(response: Response, *, domain: str, max_age: int) -> Response:
    """Mark an address-independent answer for ``domain`` (its A-label) as reusable for
    ``max_age`` seconds. The one place that decides who may store an answer, and how long.

    A shared cache keys on the URL, often without the query that names the address, so
    ``public`` only when ``domain`` is the Host's own: an answer for another domain's
    address (a hoster's ``autoconfig.`` name asked about a customer's domain) is
    ``private``, which every shared cache honours (RFC 9111 section 5.2.2.7), so such a
    cache can never hand one domain's servers to another.

    The shipped nginx (deploy/nginx/autoconf.conf) stores answers per (Host, path, mail
    domain): it ignores Cache-Control, takes the lifetime from ``Expires`` and stores an
    answer only when :data:`DOMAIN_HEADER` names exactly the domain it read from the
    request, so its key can never name another domain than the one answered for. The
    lifetime goes in ``Expires`` rather than nginx's ``X-Accel-Expires``: any nginx cache
    honours that one over ``private`` (when it comes first), also one keyed without the
    query, which would undo the ``private`` above.
    """
    response.headers[DOMAIN_HEADER] = domain
    shared = "public" if domain and domain == _host_domain_or_none() else "private"
    response.headers["Cache-Control"] = f"{shared}, max-age={max_age}"
    if max_age > 0:
        # Whole seconds, rounded down (RFC 9110 section 5.6.7): never past the max-age.
        response.headers["Expires"] = http_date(int(time.time()) + max_age)
    return response


def _host_domain_or_none() -> str | None:
    try:
        return host_domain()
    except UnknownDomainError:
        return None


def _not_modified(etag: str) -> bool:
    # RFC 9110 section 13.1.2: If-None-Match uses the weak comparison, "*" matches any.
    # The environ, not request.headers: a missing header costs an exception there.
    if "HTTP_IF_NONE_MATCH" not in request.environ:
        return False
    return request.if_none_match.contains_weak(etag.strip('"'))

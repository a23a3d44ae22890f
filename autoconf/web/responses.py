"""Every answer's headers: what the body is, and who may keep it for how long.

Each answer states its cacheability explicitly, one of three (RFC 9111):

- :data:`NO_STORE`: errors, health, metrics, the diagnostics page. No cache keeps them.
- :data:`PER_USER`: the answer names the user (POX settings and redirects, the v2 answer
  whose URL holds the address, the Apple profile). ``private, no-store``: kept nowhere,
  no validator. Per-user answers are private: this is the one place that says so.
- :func:`per_domain`: the answer depends on the mail domain alone (the Thunderbird
  document, the bodiless POX GET, the DAV redirects). Reusable by anyone asking for that
  domain for the settings' remaining lifetime; see :func:`_shared` for who "anyone" is.
"""

from __future__ import annotations

import enum
import functools
import time
from dataclasses import dataclass

from flask import Response
from flask import request
from werkzeug.http import http_date

from autoconf.web.common import host_domain_or_none

XML = "text/xml; charset=utf-8"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
#: Names the mail domain (A-label) a cacheable answer was made for; the shipped nginx
#: stores an answer only under that domain and hides the header from clients.
DOMAIN_HEADER = "X-Autoconf-Domain"


class Kind(enum.Enum):
    """Who may keep an answer."""

    NO_STORE = "no-store"
    PER_USER = "private, no-store"
    PER_DOMAIN = "max-age"


@dataclass(frozen=True, slots=True, kw_only=True)
class Cacheability:
    """An answer's cacheability: a :class:`Kind`, and for ``PER_DOMAIN`` the domain and
    the lifetime."""

    kind: Kind
    #: PER_DOMAIN: the A-label of the mail domain the answer is for.
    domain: str = ""
    #: PER_DOMAIN: seconds it may be reused.
    max_age: int = 0


NO_STORE = Cacheability(kind=Kind.NO_STORE)
PER_USER = Cacheability(kind=Kind.PER_USER)


def per_domain(domain: str, max_age: int) -> Cacheability:
    """An answer for ``domain`` (its A-label) that every user of it may reuse for
    ``max_age`` seconds."""
    return Cacheability(kind=Kind.PER_DOMAIN, domain=domain, max_age=max_age)


def xml(body: bytes, cacheability: Cacheability, *, status: int = 200, etag: str = "") -> Response:
    """An XML answer. ``etag`` (quoted) is the validator of a ``PER_DOMAIN`` answer (other
    kinds get none), and a request whose ``If-None-Match`` names it gets 304 without a body
    (RFC 9110 section 13.1.2)."""
    if cacheability.kind is not Kind.PER_DOMAIN or not etag:
        return apply(Response(body, status=status, content_type=XML), cacheability)
    if _not_modified(etag):
        response = Response(status=304)
    else:
        response = Response(body, status=status, content_type=XML)
    response.headers.add("ETag", etag)
    return apply(response, cacheability)


def json(body: bytes, cacheability: Cacheability, *, status: int = 200) -> Response:
    """A JSON answer."""
    return apply(Response(body, status=status, content_type=JSON), cacheability)


def text(body: str, *, status: int) -> Response:
    """A short plain-text answer (errors of the formats without an error document)."""
    return apply(Response(body, status=status, content_type=TEXT), NO_STORE)


def apply(response: Response, cacheability: Cacheability) -> Response:
    """Add the headers that say who may keep ``response`` (built without them); the one
    place that decides."""
    headers = response.headers
    # add(), not item assignment: the response has none of these yet, and assignment
    # scans every header for one to replace.
    if cacheability.kind is not Kind.PER_DOMAIN:
        headers.add("Cache-Control", cacheability.kind.value)
        return response
    max_age = cacheability.max_age
    headers.add(DOMAIN_HEADER, cacheability.domain)
    headers.add("Cache-Control", f"{_shared(cacheability.domain)}, max-age={max_age}")
    if max_age > 0:
        # Whole seconds, rounded down (RFC 9110 section 5.6.7): never past the max-age.
        headers.add("Expires", _http_date(int(time.time()) + max_age))
    return response


def _shared(domain: str) -> str:
    """``public`` only when ``domain`` is the Host's own, else ``private``.

    A shared cache keys on the URL, often without the query that names the address, so an
    answer for another domain's address (a hoster's ``autoconfig.`` name asked about a
    customer's domain) is ``private``, which every shared cache honours (RFC 9111 section
    5.2.2.7): such a cache can never hand one domain's servers to another.

    The shipped nginx (deploy/nginx/autoconf.conf) stores answers per (Host, path, mail
    domain): it ignores Cache-Control, takes the lifetime from ``Expires`` and stores an
    answer only when :data:`DOMAIN_HEADER` names exactly the domain it read from the
    request, so its key can never name another domain than the one answered for. The
    lifetime goes in ``Expires`` rather than nginx's ``X-Accel-Expires``: any nginx cache
    honours that one over ``private`` (when it comes first), also one keyed without the
    query, which would undo the ``private`` above.
    """
    return "public" if domain and domain == host_domain_or_none() else "private"


@functools.lru_cache(maxsize=256)
def _http_date(timestamp: int) -> str:
    # Many answers share an expiry second; formatting a date costs more than the lookup.
    return http_date(timestamp)


def _not_modified(etag: str) -> bool:
    # RFC 9110 section 13.1.2: If-None-Match uses the weak comparison, "*" matches any.
    # The environ, not request.headers: a missing header costs an exception there.
    if "HTTP_IF_NONE_MATCH" not in request.environ:
        return False
    return request.if_none_match.contains_weak(etag.strip('"'))

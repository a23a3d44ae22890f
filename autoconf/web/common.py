"""Helpers shared by the views: what the request asks about (its domain, its address)."""

from __future__ import annotations

import functools

from flask import request

from autoconf.address import Address
from autoconf.address import parse_address
from autoconf.address import parse_domain
from autoconf.errors import InvalidAddressError
from autoconf.errors import UnknownDomainError
from autoconf.formats import ClientFormat
from autoconf.web.asked import Asked
from autoconf.web.asked import describe

#: Host prefixes clients put before the mail domain (FetchConfig.sys.mjs, [MS-OXDSCLI] 3.1.5.1).
SERVICE_PREFIXES = ("autoconfig.", "autodiscover.")


#: Host header values whose readings are kept (per process): clients send few distinct
#: ones, and reading one (IDNA mapping) costs more than the rest of a cached answer.
HOST_MEMO = 1024
#: Longer Host values are read anew each time, so the memo stays small (a DNS name is at
#: most 255 octets, plus a port and IPv6 brackets).
MEMO_HOST_CHARS = 270


def host_name(host: str) -> str:
    """``Host`` without port or IPv6 brackets, lower-cased, trailing dot removed."""
    return _host_name(host) if len(host) <= MEMO_HOST_CHARS else _read_host_name(host)


def _read_host_name(host: str) -> str:
    if host.startswith("["):
        name = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        name = host.partition(":")[0]
    else:
        name = host
    return name.lower().rstrip(".")


_host_name = functools.lru_cache(maxsize=HOST_MEMO)(_read_host_name)


def host_domain() -> str:
    """The mail domain named by the Host header (``autoconfig.<d>``, ``autodiscover.<d>``
    or ``<d>``), normalised like any other domain.

    :raises UnknownDomainError: when the Host header is not a domain name: nothing is
        served there, which is not the client's fault (Thunderbird needs a plain 404).
    """
    domain = mail_domain(request.host)
    if domain is None:
        raise UnknownDomainError("Host is not a domain name")
    return domain


def mail_domain(host: str) -> str | None:
    """The mail domain a Host header value names; None when it is not a domain name."""
    return _mail_domain(host) if len(host) <= MEMO_HOST_CHARS else _read_mail_domain(host)


def _read_mail_domain(host: str) -> str | None:
    try:
        domain = parse_domain(host_name(host))
    except InvalidAddressError:
        return None
    for prefix in SERVICE_PREFIXES:
        if domain.startswith(prefix):
            return domain[len(prefix) :]
    return domain


# None is kept too: "localhost" or an IP address would be refused by the IDNA code anew on
# every request.
_mail_domain = functools.lru_cache(maxsize=HOST_MEMO)(_read_mail_domain)


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
    return None if value is None else parse_address(value)


def describe_query(fmt: ClientFormat, *names: str) -> Asked:
    """Describe a request that names its address in a query parameter of ``names`` (any
    case: clients differ), else asks about the Host's domain.

    :raises InvalidAddressError: the parameter is present but not an address.
    :raises UnknownDomainError: no address, and the Host is not a domain name.
    """
    address = query_address(*names)
    domain = address.domain if address else host_domain()
    return describe(Asked(format=fmt, domain=domain, address=address))


def host_domain_or_none() -> str | None:
    """:func:`host_domain`, or None when the Host header is not a domain name."""
    return mail_domain(request.host)

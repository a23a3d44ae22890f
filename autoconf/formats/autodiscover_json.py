"""Autodiscover v2 (JSON), as Outlook 2016+ and the new Outlook ask it (unpublished by Microsoft).

v2 only points at other endpoints: it cannot carry IMAP/SMTP settings (gromox's
autodiscover(7)), so ``AutodiscoverV1`` is answered with this service's POX URL and
``ActiveSync`` with the configured ActiveSync URL. Documents are built with
:func:`json.dumps` and never contain request input.
"""

from __future__ import annotations

import enum
import json

from autoconf.errors import BadRequestError
from autoconf.errors import DnsUnavailableError
from autoconf.errors import InvalidProtocolError
from autoconf.errors import NotServedError
from autoconf.errors import RequestError
from autoconf.model import Provider

#: Where Outlook's POX request goes when nothing better is known: ``autodiscover.<domain>``.
POX_URL = "https://autodiscover.{domain}/autodiscover/autodiscover.xml"
#: The POX endpoint on a given host (``name`` or ``name:port``).
POX_URL_AT = "https://{host}/autodiscover/autodiscover.xml"


class V2Protocol(enum.StrEnum):
    """The ``Protocol`` values served; anything else is InvalidProtocol."""

    AUTODISCOVER_V1 = "AutodiscoverV1"
    ACTIVESYNC = "ActiveSync"


_BY_LOWER = {p.value.lower(): p for p in V2Protocol}

#: ``ErrorCode`` strings, most specific class first. Only InvalidProtocol is documented by
#: Microsoft; the others follow its naming style.
ERROR_CODES: tuple[tuple[type[RequestError], str], ...] = (
    (InvalidProtocolError, "InvalidProtocol"),
    (BadRequestError, "InvalidRequest"),
    (NotServedError, "NotFound"),
    (DnsUnavailableError, "ServiceUnavailable"),
)


def parse_protocol(value: str | None) -> V2Protocol:
    """``Protocol`` compared case-insensitively against a fixed set (Outlook varies case).

    :raises InvalidProtocolError: absent or not served (``Ews``, ``Rest``, ``Substrate``...).
    """
    found = _BY_LOWER.get((value or "").strip().lower())
    if found is None:
        raise InvalidProtocolError("unsupported Autodiscover v2 protocol")
    return found


def render(protocol: V2Protocol, provider: Provider, *, pox_host: str = "") -> bytes:
    """``{"Protocol": ..., "Url": ...}`` for a served domain.

    ``pox_host`` (a validated host name, optionally ``:port``) is where the POX endpoint
    is known to answer; "" means ``autodiscover.<domain>``. Outlook follows ``Url`` only:
    a host that is not deployed leaves it with no settings at all.

    :raises InvalidProtocolError: ActiveSync for a domain without an ActiveSync server
        (never an invented URL).
    """
    if protocol is V2Protocol.AUTODISCOVER_V1:
        if pox_host:
            url = POX_URL_AT.format(host=pox_host)
        else:
            url = POX_URL.format(domain=provider.domain)
    elif provider.activesync_url:
        url = provider.activesync_url
    else:
        raise InvalidProtocolError(f"no ActiveSync server for {provider.domain}")
    return json.dumps({"Protocol": protocol.value, "Url": url}).encode("utf-8")


def render_error(error: RequestError) -> bytes:
    """``{"ErrorCode": ..., "ErrorMessage": ...}`` with the error's fixed public message."""
    code = next((c for kind, c in ERROR_CODES if isinstance(error, kind)), "InternalError")
    return json.dumps({"ErrorCode": code, "ErrorMessage": error.public_message}).encode("utf-8")

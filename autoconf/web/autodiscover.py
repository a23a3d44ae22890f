"""Outlook POX ([MS-OXDSCLI]) and ActiveSync ([MS-ASCMD] 2.2.1.1) Autodiscover views.

``POST /autodiscover/autodiscover.xml`` in any letter case with the [MS-OXDSCLI] 2.2.3
request body; ``GET`` on the same path (Delta Chat, Outlook's redirect step) answers the
2006a settings for the address in ``Email``/``emailaddress``, else for the Host's domain
without per-user elements. Refusals are the Error document ([MS-OXDSCLI] 2.2.4.1.1.3).
"""

from __future__ import annotations

import functools
from functools import partial
from typing import IO

from flask import Blueprint
from flask import Response
from flask import request
from werkzeug.exceptions import ClientDisconnected
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header

from autoconf.errors import BadRequestError
from autoconf.errors import PayloadTooLargeError
from autoconf.errors import RequestError
from autoconf.formats import ClientFormat
from autoconf.formats import autodiscover
from autoconf.formats.autodiscover import Schema
from autoconf.formats.autodiscover import Skeleton
from autoconf.model import AliasLogin
from autoconf.web import errors
from autoconf.web import responses
from autoconf.web.asked import Asked
from autoconf.web.asked import describe
from autoconf.web.common import describe_query
from autoconf.web.state import state

bp = Blueprint(ClientFormat.AUTODISCOVER, __name__)

PATH = '/<ci("autodiscover"):_dir>/<ci("autodiscover.xml"):_file>'
#: A POX body must say it is XML (docs/security-model.md, "Input handling"): [MS-ASCMD]
#: 2.2.1.1 "MUST be set to text/xml", and Outlook and Thunderbird
#: (ExchangeAutoDiscover.sys.mjs) send text/xml.
XML_TYPES = frozenset({"text/xml", "application/xml"})
READ_SIZE = 65536
#: Longer Content-Type values are parsed anew each time, so the memo stays small.
MEMO_CONTENT_TYPE_CHARS = 100


def error_document(error: RequestError) -> Response:
    """The Error document with the error's ErrorCode (:func:`autodiscover.error_code`).

    600 -> 400 (Thunderbird treats non-2xx and Error alike; a 400 also tells proxies and
    logs the truth), 601 -> 200 for a schema not offered (the Error is the answer,
    [MS-ASCMD] 2.2.3.64), unknown domain / no settings -> 404 with 601, DNS failure -> 503
    with 603.
    """
    body = autodiscover.render_error(state().templates, error)
    return responses.xml(body, responses.NO_STORE, status=error.error_status_hint)


bp.register_error_handler(RequestError, errors.handler(error_document))


@bp.post(PATH)
def pox_post(**_segments: str) -> Response:
    """The [MS-OXDSCLI] 2.2.3 request; ``Authorization`` (sent up front) is never read (no
    credentials are needed for settings, and none may reach a log)."""
    pox = autodiscover.parse_request(read_body())
    asked = describe(
        Asked(format=ClientFormat.AUTODISCOVER, domain=pox.address.domain, address=pox.address)
    )
    return answer(asked, pox.schema)


@bp.get(PATH)
def pox_get(**_segments: str) -> Response:
    """No body to read: outlook 2006a for the query address, else for the Host's domain."""
    return answer(describe_query(ClientFormat.AUTODISCOVER, "email", "emailaddress"))


def read_body() -> bytes:
    """The request body, when it is XML and within ``http.max_body_bytes``.

    :raises PayloadTooLargeError: over the cap, declared or (chunked) found while reading.
    :raises BadRequestError: not declared as XML.
    :raises ClientDisconnected: the body stopped short of its declared length (Werkzeug's
        own 400, as its request stream raises it).
    """
    limit = state().settings.http.max_body_bytes
    declared = request.content_length  # None for a chunked body
    if (declared or 0) > limit:
        raise PayloadTooLargeError("request body over the limit")
    if not declares_xml(request.environ.get("CONTENT_TYPE", "")):
        raise BadRequestError("POST body is not declared as XML")
    if declared is not None:
        # Within the cap, so read at once from the server's input: no stream wrapper and
        # no chunk loop (PEP 3333: never more than CONTENT_LENGTH is asked for).
        try:
            body: bytes = request.environ["wsgi.input"].read(declared)
        except (OSError, ValueError):  # a stalled or closed client socket
            raise ClientDisconnected() from None
        if len(body) < declared:
            raise ClientDisconnected()
        return body
    try:
        return read_capped(request.stream, limit)
    except RequestEntityTooLarge:
        raise PayloadTooLargeError("request body over the limit") from None


def declares_xml(content_type: str) -> bool:
    """Whether a Content-Type value names XML, parameters (charset) aside."""
    if len(content_type) > MEMO_CONTENT_TYPE_CHARS:
        return _declares_xml(content_type)
    return _declared_xml(content_type)


def _declares_xml(content_type: str) -> bool:
    return parse_options_header(content_type)[0].lower() in XML_TYPES


# Clients send a handful of spellings ("text/xml", "text/xml; charset=utf-8"): each is
# parsed once.
_declared_xml = functools.lru_cache(maxsize=64)(_declares_xml)


def read_capped(stream: IO[bytes], limit: int) -> bytes:
    """Read to the end, refusing more than ``limit`` bytes.

    Werkzeug applies MAX_CONTENT_LENGTH to declared lengths only; a chunked body under
    gunicorn reaches the app unlimited (measured: 20 KiB passed; pallets/werkzeug#1096).
    """
    chunks: list[bytes] = []
    total = 0
    while chunk := stream.read(min(READ_SIZE, limit + 1 - total)):
        total += len(chunk)
        if total > limit:
            raise PayloadTooLargeError("request body over the limit")
        chunks.append(chunk)
    return b"".join(chunks)


def answer(asked: Asked, schema: Schema = Schema.OUTLOOK) -> Response:
    """Redirect alias addresses, else fill the domain's settings in ``schema``.

    Every local part at a served domain gets the same settings (no enumeration). An
    alias address is redirected to the primary address when the domain's alias login is
    the primary one (Outlook then logs in as ``alice@primary``, as the Thunderbird
    document and the Apple profile make other clients do); with ``alias_login =
    "address"`` it gets the settings itself, ``LoginName`` being the alias address.
    """
    current = state()
    address = asked.address
    route = current.discoverer.route(asked.domain)
    primary = route.primary
    # Decided from the configuration alone (for a hosted domain: its cached decision),
    # before any other DNS query or redirect.
    autodiscover.require_schema(schema, route.activesync_url, primary)
    # Only an alias differs from its primary (a hosted domain is its own primary).
    if (
        address
        and asked.domain != primary
        and current.settings.domains[primary].alias_login is AliasLogin.PRIMARY
    ):
        target = address.with_domain(primary)
        body = autodiscover.render_redirect(current.templates, schema, address, target)
        return responses.xml(body, responses.PER_USER)
    served = current.discoverer.settings_of(route)
    # The provider's part is rendered once per settings version, schema and kind (per
    # user or not) and kept with the rendered documents; only the address is filled in.
    skeleton = current.documents.built(
        (ClientFormat.AUTODISCOVER, served.version, schema, address is not None),
        Skeleton,
        partial(
            autodiscover.skeleton,
            current.templates,
            schema,
            served.provider,
            per_user=address is not None,
        ),
    )
    body = skeleton.fill(address)
    if address:
        return responses.xml(body, responses.PER_USER)
    return responses.xml(body, responses.per_domain(asked.domain, served.max_age))

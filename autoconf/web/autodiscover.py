"""Outlook POX ([MS-OXDSCLI]) and ActiveSync ([MS-ASCMD] 2.2.1.1) Autodiscover views.

``POST /autodiscover/autodiscover.xml`` in any letter case with the [MS-OXDSCLI] 2.2.3
request body; ``GET`` on the same path (Delta Chat, Outlook's redirect step) answers the
2006a settings for the address in ``Email``/``emailaddress``, else for the Host's domain
without per-user elements. Errors become the Error document in ``web/errors.py``.
"""

from __future__ import annotations

from functools import partial
from typing import IO

from flask import Blueprint
from flask import Response
from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from autoconf import requestlog
from autoconf.errors import BadRequestError
from autoconf.errors import PayloadTooLargeError
from autoconf.errors import SchemaNotAvailableError
from autoconf.formats import autodiscover
from autoconf.formats.autodiscover import PoxRequest
from autoconf.formats.autodiscover import Schema
from autoconf.formats.autodiscover import Skeleton
from autoconf.model import AliasLogin
from autoconf.web.common import host_domain
from autoconf.web.common import query_address
from autoconf.web.common import state
from autoconf.web.common import xml_response

bp = Blueprint("autodiscover", __name__)
FORMAT = "pox"

PATH = '/<ci("autodiscover"):_dir>/<ci("autodiscover.xml"):_file>'
#: A POX body must say it is XML: [MS-ASCMD] 2.2.1.1 "MUST be set to text/xml", and Outlook
#: and Thunderbird (ExchangeAutoDiscover.sys.mjs) send text/xml.
XML_TYPES = frozenset({"text/xml", "application/xml"})
READ_SIZE = 65536


@bp.post(PATH)
def pox_post(**_segments: str) -> Response:
    """The [MS-OXDSCLI] 2.2.3 request; ``Authorization`` (sent up front) is never read."""
    return answer(autodiscover.parse_request(read_body()))


@bp.get(PATH)
def pox_get(**_segments: str) -> Response:
    """No body to read: outlook 2006a for the query address, else for the Host's domain."""
    address = query_address("email", "emailaddress")
    return answer(PoxRequest(address=address, schema=Schema.OUTLOOK))


def read_body() -> bytes:
    """The request body, when it is XML and within ``http.max_body_bytes``.

    :raises PayloadTooLargeError: over the cap, declared or (chunked) found while reading.
    :raises BadRequestError: not declared as XML.
    """
    limit = state().settings.http.max_body_bytes
    if (request.content_length or 0) > limit:
        raise PayloadTooLargeError("request body over the limit")
    if request.mimetype not in XML_TYPES:
        raise BadRequestError("POST body is not declared as XML")
    try:
        return read_capped(request.stream, limit)
    except RequestEntityTooLarge:
        raise PayloadTooLargeError("request body over the limit") from None


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


def answer(pox: PoxRequest) -> Response:
    """Redirect alias addresses, else render the settings in the requested schema.

    Every local part at a served domain gets the same settings (no enumeration). An
    alias address is redirected to the primary address when the domain's alias login is
    the primary one (Outlook then logs in as ``alice@primary``, as the Thunderbird
    document and the Apple profile make other clients do); with ``alias_login =
    "address"`` it gets the settings itself, ``LoginName`` being the alias address.
    """
    current = state()
    if pox.address:
        requestlog.note_address(str(pox.address))
    domain = pox.address.domain if pox.address else host_domain()
    primary = current.discoverer.primary(domain)
    # Decided from configuration alone (for a hosted domain: its cached decision), before
    # any other DNS query or redirect.
    if pox.schema is Schema.MOBILESYNC and not current.discoverer.activesync_url(primary):
        raise SchemaNotAvailableError(f"no ActiveSync server for {primary}")
    # Only an alias differs from its primary (a hosted domain is its own primary).
    if (
        pox.address
        and domain != primary
        and current.settings.domains[primary].alias_login is AliasLogin.PRIMARY
    ):
        target = pox.address.with_domain(primary)
        body = autodiscover.render_redirect(current.templates, pox.schema, pox.address, target)
        return xml_response(body)
    served = current.discoverer.served(primary)

    def skeleton(schema: Schema, per_user: bool) -> Skeleton:
        # One rendering per provider version, schema and kind; the address is filled in.
        key = (FORMAT, served.version, schema, per_user)
        build = partial(
            autodiscover.skeleton, current.templates, schema, served.provider, per_user=per_user
        )
        return current.documents.built(key, Skeleton, build)

    body = autodiscover.render(
        current.templates, pox.schema, served.provider, pox.address, skeleton
    )
    if pox.address:
        return xml_response(body)  # per user: private, no-store
    return xml_response(body, max_age=served.max_age, domain=domain)

"""Outlook POX Autodiscover ([MS-OXDSCLI]) and ActiveSync Autodiscover ([MS-ASCMD] 2.2.1.1).

Parses the request body with the hardened parser (:mod:`autoconf.safexml`) into a small
:class:`PoxRequest` and renders the three answers from autoescaped templates: settings
(outlook 2006a or mobilesync 2006), address redirects and Error documents. A settings
answer is rendered once per provider as a :class:`Skeleton` and only the escaped per-user
values are filled in per request. Imports neither Flask nor dnspython.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

import jinja2
from lxml import etree
from markupsafe import Markup
from markupsafe import escape

from autoconf import logins
from autoconf.address import Address
from autoconf.address import parse_address
from autoconf.errors import BadRequestError
from autoconf.errors import DnsUnavailableError
from autoconf.errors import NotServedError
from autoconf.errors import RequestError
from autoconf.errors import SchemaNotAvailableError
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import Security
from autoconf.model import Server
from autoconf.safexml import parse_xml

OUTLOOK_TEMPLATE = "autodiscover-outlook.xml"
MOBILESYNC_TEMPLATE = "autodiscover-mobilesync.xml"
ERROR_TEMPLATE = "autodiscover-error.xml"


class Schema(enum.StrEnum):
    """Response schemas a client may name in ``AcceptableResponseSchema``.

    Compared exactly: namespace names are case-sensitive URIs, and ``http://`` is right
    even though some old documentation pages print ``https://`` ([MS-OXDSCLI] 2.2.3, 2.2.4).
    """

    #: [MS-OXDSCLI] 2.2.4: IMAP/POP3/SMTP settings for Outlook, Thunderbird, eM Client.
    OUTLOOK = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
    #: [MS-ASCMD] 2.2.3.1: the ActiveSync server URL.
    MOBILESYNC = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"


#: Schema by its exact URI (a dict lookup: calling the enum costs several calls).
_SCHEMAS = {schema.value: schema for schema in Schema}


@dataclass(frozen=True, slots=True, kw_only=True)
class PoxRequest:
    """What an Autodiscover request body asks: for whom, in which schema."""

    address: Address
    schema: Schema


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolBlock:
    """One 2006a ``Protocol`` element ([MS-OXDSCLI] 2.2.4.1.1.2.10), ready to print."""

    type: str
    server: str
    port: int
    #: "" omits ``LoginName`` (no address known: the client uses what the user typed).
    login_name: str
    ssl: str
    #: "" omits ``Encryption`` (DAV blocks: the scheme of the URL says it).
    encryption: str
    smtp: bool = False


#: ``Type`` values; eM Client reads CalDAV/CardDAV blocks with a URL in ``Server``.
TYPE = {
    Protocol.IMAP: "IMAP",
    Protocol.POP3: "POP3",
    Protocol.SMTP: "SMTP",
    Protocol.CALDAV: "CalDAV",
    Protocol.CARDDAV: "CardDAV",
}
#: [MS-OXDSCLI] 2.2.4.1.1.2.10: ``Encryption`` SSL is implicit TLS, TLS is STARTTLS. ``SSL``
#: stays on for STARTTLS: ``SSL off`` is plaintext to Thunderbird (ExchangeAutoDiscover.sys.mjs)
#: and Delta Chat (auto_outlook.rs).
SSL_ENCRYPTION = {
    Security.TLS: ("on", "SSL"),
    Security.STARTTLS: ("on", "TLS"),
    Security.PLAIN: ("off", "None"),
}
MAIL = (Protocol.IMAP, Protocol.POP3)
DAV = (Protocol.CALDAV, Protocol.CARDDAV)

#: ``ErrorCode`` per request error ([MS-OXDSCLI] 2.2.4.1.1.3.2), most specific class
#: first; anything else is 603 (internal error). 600 "Invalid Request" for a malformed
#: request. 601 "configuration type not available" both for a schema not offered and for a
#: domain without settings: 600 would claim the XML was malformed, and 500/501/602 speak
#: about the address, which a per-domain answer must not (no enumeration).
ERROR_CODES: tuple[tuple[type[RequestError], int], ...] = (
    (BadRequestError, 600),
    (SchemaNotAvailableError, 601),
    (NotServedError, 601),
    (DnsUnavailableError, 603),
)


def parse_request(body: bytes) -> PoxRequest:
    """Read ``Autodiscover/Request/{EMailAddress, AcceptableResponseSchema}`` whatever the
    namespaces or prefixes ([MS-OXDSCLI] 2.2.3, [MS-ASCMD] 6.3).

    :raises BadRequestError: malformed, a DOCTYPE, no ``EMailAddress`` or ``LegacyDN`` in
        its place, no schema (ErrorCode 600).
    :raises InvalidAddressError: the address is not valid (600).
    :raises SchemaNotAvailableError: a schema this service never serves (601).
    """
    root = parse_xml(body)
    request = _children(root).get("Request")
    if _local_name(root) != "Autodiscover" or request is None:
        raise BadRequestError("not an Autodiscover request")
    fields = _children(request)
    # [MS-OXDSCLI] 3.2.5: a LegacyDN takes precedence over EMailAddress; it names an
    # Exchange mailbox, which this service cannot look up, so it cannot be honoured.
    if "LegacyDN" in fields:
        raise BadRequestError("LegacyDN requests are not served")
    address = _text(fields, "EMailAddress")
    if not address:
        raise BadRequestError("no EMailAddress")
    parsed = parse_address(address)
    schema = _text(fields, "AcceptableResponseSchema")
    if not schema:
        raise BadRequestError("no AcceptableResponseSchema")
    known = _SCHEMAS.get(schema)
    if known is None:
        raise SchemaNotAvailableError("unknown AcceptableResponseSchema")
    return PoxRequest(address=parsed, schema=known)


def _local_name(element: etree._Element) -> str:
    """The tag without its namespace (``{uri}name`` -> ``name``)."""
    return str(element.tag).rpartition("}")[2]


def _children(parent: etree._Element) -> dict[str, etree._Element]:
    """The first child element of each local name, whatever its namespace (what
    ``find("{*}name")`` finds, in one pass and without ElementPath)."""
    found: dict[str, etree._Element] = {}
    for child in parent:
        if isinstance(child.tag, str):  # not an entity reference
            found.setdefault(_local_name(child), child)
    return found


def _text(fields: dict[str, etree._Element], name: str) -> str:
    """Trimmed text of the child ``name`` (see :func:`_children`); "" when absent."""
    element = fields.get(name)
    if element is None:
        return ""
    if len(element):
        raise BadRequestError(f"{name} must hold text only")
    return (element.text or "").strip()


def protocol_blocks(provider: Provider, address: Address | None) -> tuple[ProtocolBlock, ...]:
    """One block per offered service, its preferred server only: incoming protocols in
    RFC 6186 section 3.4 order, then SMTP, then CalDAV/CardDAV (read by eM Client, sys4/automx#36).

    ``LoginName`` is :func:`autoconf.logins.login` for ``address`` ("" without one)."""
    if address is None:
        return _blocks(provider, lambda _server: "")
    return _blocks(provider, lambda server: logins.login(provider, server.username, address))


def _blocks(provider: Provider, login: Callable[[Server], str]) -> tuple[ProtocolBlock, ...]:
    order = (*(p for p in provider.incoming_order if p in MAIL), Protocol.SMTP, *DAV)
    return tuple(_block(provider.of(p)[0], login) for p in order if provider.of(p))


def _block(server: Server, login: Callable[[Server], str]) -> ProtocolBlock:
    ssl, encryption = SSL_ENCRYPTION[server.security]
    dav = server.protocol in DAV
    return ProtocolBlock(
        type=TYPE[server.protocol],
        server=server.url if dav else server.host,
        port=server.port,
        login_name=login(server),
        ssl=ssl,
        encryption="" if dav else encryption,
        smtp=server.protocol is Protocol.SMTP,
    )


class Slot(enum.Enum):
    """A per-user value a :class:`Skeleton` leaves open."""

    ADDRESS = "address"
    LOCAL_PART = "local_part"
    DOMAIN = "domain"


#: Stand-ins rendered where the per-user values go. Autoescaping turns every ``<`` of a
#: value into ``&lt;``, so ``<@`` in a rendered document can only come from these markers.
_MARKERS = {slot: Markup(f"<@{slot.value}@>") for slot in Slot}
_MARKER = re.compile("<@(" + "|".join(slot.value for slot in Slot) + ")@>")
#: The field names of the slots in a :class:`Skeleton`'s template.
_ADDRESS, _LOCAL_PART, _DOMAIN = (
    slot.value for slot in (Slot.ADDRESS, Slot.LOCAL_PART, Slot.DOMAIN)
)
#: The slot each login placeholder (its name, as ``logins.PLACEHOLDER`` captures it) becomes.
_PLACEHOLDER_SLOTS = {
    "EMAILADDRESS": Slot.ADDRESS,
    "EMAILLOCALPART": Slot.LOCAL_PART,
    "EMAILDOMAIN": Slot.DOMAIN,
}


def _slotted(template: str) -> Markup:
    """A login template (:func:`autoconf.logins.template`) with its placeholders turned
    into slots and the rest escaped: filled, it reads :func:`autoconf.logins.login`."""
    # re.split alternates text and captured placeholder names: names at odd indexes.
    pieces = logins.PLACEHOLDER.split(template)
    return Markup("").join(
        _MARKERS[_PLACEHOLDER_SLOTS[piece]] if i % 2 else escape(piece)
        for i, piece in enumerate(pieces)
    )


@dataclass(frozen=True, slots=True)
class Skeleton:
    """A settings answer rendered for one provider, with holes for the per-user values.

    Rendering the template is most of a warm answer's cost; the provider part changes only
    with the provider's version, so it is rendered once and each request only escapes and
    inserts the address (escaping by construction, as the template would).
    """

    #: The document in :meth:`str.format` syntax: a ``{address}``, ``{local_part}`` or
    #: ``{domain}`` field per slot, the document's own braces doubled.
    template: str

    @classmethod
    def of(cls, text: str) -> Skeleton:
        """Turn a document rendered with the markers into a template with fields."""
        escaped = text.replace("{", "{{").replace("}", "}}")
        return cls(_MARKER.sub(lambda marker: "{" + marker[1] + "}", escaped))

    def fill(self, address: Address | None) -> bytes:
        """The document for ``address`` (a skeleton made without one has no slots)."""
        if address is None:
            return self.template.format_map({}).encode("utf-8")
        return self.template.format_map(
            {
                _ADDRESS: escape(str(address)),
                _LOCAL_PART: escape(address.local_part),
                _DOMAIN: escape(address.domain),
            }
        ).encode("utf-8")


def require_schema(schema: Schema, activesync_url: str, domain: str) -> None:
    """The one ActiveSync decision: mobilesync is answered only for a domain with an
    ActiveSync server (``activesync_url`` from its configuration).

    :raises SchemaNotAvailableError: mobilesync without one: [MS-ASCMD] 2.2.3.64 ErrorCode
        601, never an invented URL or an answer in another schema.
    """
    if schema is Schema.MOBILESYNC and not activesync_url:
        raise SchemaNotAvailableError(f"no ActiveSync server for {domain}")


def skeleton(
    env: jinja2.Environment, schema: Schema, provider: Provider, *, per_user: bool
) -> Skeleton:
    """The settings answer in ``schema`` with slots for the user (``per_user``), else the
    domain-only answer of a bodiless GET (no per-user elements, no slots).

    :raises SchemaNotAvailableError: mobilesync for a domain without ActiveSync
        (:func:`require_schema`), or without an address (mobilesync is per user only).
    """
    address = _MARKERS[Slot.ADDRESS] if per_user else ""
    if schema is Schema.OUTLOOK:

        def login(server: Server) -> str:
            return _slotted(logins.template(provider, server.username)) if per_user else ""

        text = env.get_template(OUTLOOK_TEMPLATE).render(
            display_name=address or provider.display_name,
            address=address,
            blocks=_blocks(provider, login),
            redirect="",
        )
        return Skeleton.of(text)
    require_schema(schema, provider.activesync_url, provider.domain)
    if not per_user:
        raise SchemaNotAvailableError("mobilesync answers name the user")
    text = env.get_template(MOBILESYNC_TEMPLATE).render(
        address=address, url=provider.activesync_url, redirect=""
    )
    return Skeleton.of(text)


def render(
    env: jinja2.Environment, schema: Schema, provider: Provider, address: Address | None
) -> bytes:
    """The settings answer in ``schema``, rendered and filled at once (the web view keeps
    the :func:`skeleton` in its document cache and fills it per request instead).

    :raises SchemaNotAvailableError: see :func:`skeleton`.
    """
    return skeleton(env, schema, provider, per_user=address is not None).fill(address)


def render_redirect(
    env: jinja2.Environment, schema: Schema, address: Address, target: Address
) -> bytes:
    """Send the client asking for ``address`` to ``target`` instead (alias -> primary).

    2006a: ``Action`` redirectAddr + ``RedirectAddr`` ([MS-OXDSCLI] 3.2.5, 4.2);
    mobilesync: ``Action/Redirect`` ([MS-ASCMD] 2.2.3.147).
    """
    if schema is Schema.OUTLOOK:
        text = env.get_template(OUTLOOK_TEMPLATE).render(redirect=str(target))
    else:
        text = env.get_template(MOBILESYNC_TEMPLATE).render(
            address=str(address), url="", redirect=str(target)
        )
    return text.encode("utf-8")


def error_code(error: RequestError) -> int:
    """The Autodiscover ``ErrorCode`` that tells ``error`` (:data:`ERROR_CODES`)."""
    return next((code for kind, code in ERROR_CODES if isinstance(error, kind)), 603)


def render_error(
    env: jinja2.Environment, error: RequestError, *, now: datetime | None = None
) -> bytes:
    """The Error document ([MS-OXDSCLI] 2.2.4.1.1.3) for any schema.

    ``Response`` stays in the base 2006 namespace: that is the error branch of [MS-ASCMD]
    6.4's schema and what exchangelib reads. [MS-ASCMD] 4.2's example puts ``Error`` in the
    mobilesync namespace, which its own schema (6.2) does not allow.
    """
    moment = now or datetime.now(UTC)
    text = env.get_template(ERROR_TEMPLATE).render(
        time=moment.strftime("%H:%M:%S.%f"),
        id=secrets.randbits(32),
        code=error_code(error),
        message=error.public_message,
    )
    return text.encode("utf-8")

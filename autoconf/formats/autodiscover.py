"""Outlook POX Autodiscover ([MS-OXDSCLI]) and ActiveSync Autodiscover ([MS-ASCMD] 2.2.1.1).

Parses the request body with one hardened lxml parser into a small :class:`PoxRequest` and
renders the three answers from autoescaped templates: settings (outlook 2006a or mobilesync
2006), address redirects and Error documents. A settings answer is rendered once per provider
as a :class:`Skeleton` and only the escaped per-user values are filled in per request.
Imports neither Flask nor dnspython.
"""

from __future__ import annotations

import enum
import re
import secrets
import threading
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
from autoconf.errors import AutoconfError
from autoconf.errors import BadRequestError
from autoconf.errors import SchemaNotAvailableError
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import Security
from autoconf.model import Server

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


@dataclass(frozen=True, slots=True, kw_only=True)
class PoxRequest:
    """What an Autodiscover request asks: for whom (None for a bodiless GET), in which schema."""

    address: Address | None
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
SkeletonSource = Callable[["Schema", bool], "Skeleton"]
"""Supplies the skeleton for (schema, per user), e.g. from a cache of rendered documents."""
DAV = (Protocol.CALDAV, Protocol.CARDDAV)


_parsers = threading.local()


def _parser() -> etree.XMLParser:
    """This thread's hardened parser: lxml parsers are not thread-safe, but one per thread
    can be reused, which saves building one per request."""
    parser: etree.XMLParser | None = getattr(_parsers, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        _parsers.parser = parser
    return parser


def parse_xml(body: bytes) -> etree._Element:
    """Parse an untrusted XML body or raise :class:`BadRequestError` (docs/security-model.md).

    No DTD loading, no entity resolution, no network, libxml2's depth and size limits on.
    A DOCTYPE is refused even though it would be inert: with entities left unresolved
    ``u@&d;`` silently reads ``u@``.
    """
    try:
        root = etree.fromstring(body, _parser())
    except etree.LxmlError as exc:
        raise BadRequestError(f"malformed XML: {type(exc).__name__}") from None
    docinfo = root.getroottree().docinfo
    # libxml2 records every DOCTYPE form (bare, SYSTEM, internal subset) as internalDTD.
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise BadRequestError("DOCTYPE not allowed")
    return root


def parse_request(body: bytes) -> PoxRequest:
    """Read ``Autodiscover/Request/{EMailAddress, AcceptableResponseSchema}`` whatever the
    namespaces or prefixes ([MS-OXDSCLI] 2.2.3, [MS-ASCMD] 6.3).

    :raises BadRequestError: malformed, a DOCTYPE, no ``EMailAddress`` or ``LegacyDN`` in
        its place, no schema (ErrorCode 600).
    :raises InvalidAddressError: the address is not valid (600).
    :raises SchemaNotAvailableError: a schema this service never serves (601).
    """
    root = parse_xml(body)
    request = root.find("{*}Request")
    if etree.QName(root).localname != "Autodiscover" or request is None:
        raise BadRequestError("not an Autodiscover request")
    # [MS-OXDSCLI] 3.2.5: a LegacyDN takes precedence over EMailAddress; it names an
    # Exchange mailbox, which this service cannot look up, so it cannot be honoured.
    if request.find("{*}LegacyDN") is not None:
        raise BadRequestError("LegacyDN requests are not served")
    address = _text(request, "EMailAddress")
    if not address:
        raise BadRequestError("no EMailAddress")
    parsed = parse_address(address)
    schema = _text(request, "AcceptableResponseSchema")
    if not schema:
        raise BadRequestError("no AcceptableResponseSchema")
    try:
        return PoxRequest(address=parsed, schema=Schema(schema))
    except ValueError:
        raise SchemaNotAvailableError("unknown AcceptableResponseSchema") from None


def _text(parent: etree._Element, name: str) -> str:
    """Trimmed text of the first child ``name`` in any namespace; "" when absent."""
    element = parent.find("{*}" + name)
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

    parts: tuple[str | Slot, ...]

    @classmethod
    def of(cls, text: str) -> Skeleton:
        """Split a document rendered with the markers into text and slots."""
        pieces = _MARKER.split(text)
        # re.split alternates text and captured slot names: text at even indexes.
        return cls(tuple(p if i % 2 == 0 else Slot(p) for i, p in enumerate(pieces)))

    def fill(self, address: Address | None) -> bytes:
        """The document for ``address`` (a skeleton made without one has no slots)."""
        if address is None:
            values = {}
        else:
            values = {
                Slot.ADDRESS: escape(str(address)),
                Slot.LOCAL_PART: escape(address.local_part),
                Slot.DOMAIN: escape(address.domain),
            }
        text = "".join(values[p] if isinstance(p, Slot) else p for p in self.parts)
        return text.encode("utf-8")


def skeleton(
    env: jinja2.Environment, schema: Schema, provider: Provider, *, per_user: bool
) -> Skeleton:
    """The settings answer in ``schema`` with slots for the user (``per_user``), else the
    domain-only answer of a bodiless GET (no per-user elements, no slots).

    :raises SchemaNotAvailableError: mobilesync for a domain without ActiveSync: [MS-ASCMD]
        2.2.3.64 ErrorCode 601, never an invented URL or an answer in another schema.
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
    if not per_user or not provider.activesync_url:
        raise SchemaNotAvailableError(f"no ActiveSync server for {provider.domain}")
    text = env.get_template(MOBILESYNC_TEMPLATE).render(
        address=address, url=provider.activesync_url, redirect=""
    )
    return Skeleton.of(text)


def render(
    env: jinja2.Environment,
    schema: Schema,
    provider: Provider,
    address: Address | None,
    skeletons: SkeletonSource | None = None,
) -> bytes:
    """The settings answer in ``schema``; mobilesync needs an address and an ActiveSync URL.

    ``skeletons`` may supply the provider's skeleton from a cache (it is called with the
    schema and whether the answer is per user, and builds it with :func:`skeleton`).

    :raises SchemaNotAvailableError: see :func:`skeleton`.
    """
    per_user = address is not None
    if skeletons is None:
        found = skeleton(env, schema, provider, per_user=per_user)
    else:
        found = skeletons(schema, per_user)
    return found.fill(address)


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


def render_error(
    env: jinja2.Environment, error: AutoconfError, *, now: datetime | None = None
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
        code=error.pox_code,
        message=error.public_message,
    )
    return text.encode("utf-8")

"""Read HTTP answers the way real clients do (pure: bytes in, :class:`Reading` out).

Used by ``mail-autoconf check --url`` to compare a live deployment with DNS. Each reader follows
one client's own parser, quirks included (each names the client's source file): a document that
this service would call fine but a client discards is exactly what an admin must learn.
Untrusted XML is only parsed with a hardened lxml parser (docs/security-model.md, Input handling).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field

from lxml import etree

from autoconf import logins
from autoconf.address import Address
from autoconf.errors import BadRequestError
from autoconf.safexml import parse_xml

#: At most this much of an answer is read; a settings document is a few KiB.
MAX_BODY = 256 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """One HTTP exchange as fetched (or why there was no answer at all)."""

    url: str
    status: int = 0
    content_type: str = ""
    body: bytes = b""
    #: Transport failure (refused, timeout, TLS certificate): no HTTP answer.
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Seen:
    """One mail server as a client understood it."""

    protocol: str  # "imap" | "pop3" | "smtp" (other types are noted, not compared)
    host: str
    port: int
    #: "tls" | "starttls" | "plain", or "automatic" (Delta Chat tries TLS, then STARTTLS).
    security: str
    #: Login name after placeholder substitution; "" when the client ignores it.
    username: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    """What one client made of one answer."""

    incoming: tuple[Seen, ...] = ()
    outgoing: tuple[Seen, ...] = ()
    #: Autodiscover v2 / ActiveSync: the URL handed out.
    url: str = ""
    #: Why the client discards the whole answer ("" when it uses it).
    error: str = ""
    #: Servers skipped and other remarks that do not discard the answer.
    notes: tuple[str, ...] = field(default_factory=tuple)


def _xml(answer: Answer) -> etree._Element | str:
    """The parsed root, or why there is none (transport error, status, not XML)."""
    if answer.error:
        return answer.error
    if not 200 <= answer.status < 300:
        return f"HTTP {answer.status}"
    try:
        # The service's own hardened parser: untrusted XML is parsed in one place only.
        return parse_xml(answer.body)
    except BadRequestError as exc:
        return f"not usable XML ({exc.detail})"


# --- Thunderbird autoconfig (comm-central FetchHTTP.sys.mjs, readFromXML.sys.mjs) ------

#: readFromXML: legal host names or placeholders; no "_" (InputSanitizer.hostname).
_HOSTNAME = re.compile(r"(?:[A-Za-z0-9.-]|%[A-Z]+%)+")
_TB_XML_TYPES = ("text/xml", "application/xml", "text/rdf")
_TB_INCOMING = frozenset({"pop3", "imap", "nntp", "exchange", "ews", "owa", "graph"})
_TB_SOCKET = {"SSL": "tls", "STARTTLS": "starttls", "plain": "plain"}
_TB_AUTH_BOTH = frozenset(
    {"password-cleartext", "plain", "password-encrypted", "secure", "GSSAPI", "NTLM", "OAuth2"}
)
_TB_AUTH_OUT_ONLY = frozenset({"none", "client-IP-address", "smtp-after-pop"})


def _name(element: etree._Element) -> str:
    """JXON keys are DOM nodeNames: a namespace prefix is part of the name."""
    local = etree.QName(element).localname
    return f"{element.prefix}:{local}" if element.prefix else local


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in element if isinstance(c.tag, str) and _name(c) == name]


def _jxon(element: etree._Element | None) -> str | None:
    """The value JXON gives an element: None when missing, "true" when empty, numbers
    normalised (``<port>0993</port>`` is 993), no trimming."""
    if element is None:
        return None
    text = element.text or ""
    if text == "":
        return "true"
    try:
        number = float(text)
    except ValueError:
        return text
    if number != number or number in (float("inf"), float("-inf")):
        return text
    return str(int(number)) if number.is_integer() else str(number)


def _first(element: etree._Element, name: str) -> str | None:
    found = _children(element, name)
    return _jxon(found[0]) if found else None


def _legal_host(text: str | None) -> bool:
    return text is not None and len(text) <= 255 and bool(_HOSTNAME.fullmatch(text))


def read_autoconfig(answer: Answer, address: Address) -> Reading:
    """Thunderbird desktop's FetchHTTP + readFromXML: a 2xx counts only if its Content-Type
    starts with text/xml, application/xml or text/rdf; then readFromXML's rules."""
    base = answer.content_type.lower()
    if not answer.error and 200 <= answer.status < 300 and not base.startswith(_TB_XML_TYPES):
        return Reading(error=f"Content-Type {answer.content_type or '(none)'} is not XML")
    root = _xml(answer)
    if isinstance(root, str):
        return Reading(error=root)
    providers = _children(root, "emailProvider") if _name(root) == "clientConfig" else []
    if not providers:
        return Reading(error="no clientConfig/emailProvider")
    provider = providers[0]
    if not _legal_host(provider.get("id")):
        return Reading(error="emailProvider/@id missing or not a legal host name")
    if not any(_legal_host(_jxon(d)) for d in _children(provider, "domain")):
        return Reading(error="no <domain> with a legal host name")
    notes: list[str] = []
    incoming = _tb_servers(provider, "incomingServer", address, notes)
    outgoing = _tb_servers(provider, "outgoingServer", address, notes)
    if not incoming:
        return Reading(error="no usable incomingServer", notes=tuple(notes))
    if not outgoing:
        return Reading(error="no usable outgoingServer", notes=tuple(notes))
    return Reading(incoming=incoming, outgoing=outgoing, notes=tuple(notes))


def _tb_servers(
    provider: etree._Element, tag: str, address: Address, notes: list[str]
) -> tuple[Seen, ...]:
    servers: list[Seen] = []
    for position, element in enumerate(_children(provider, tag), start=1):
        seen = _tb_server(element, incoming=tag == "incomingServer", address=address)
        if isinstance(seen, str):
            notes.append(f"{tag} #{position} skipped: {seen}")
        else:
            servers.append(seen)
    return tuple(servers)


def _tb_server(element: etree._Element, *, incoming: bool, address: Address) -> Seen | str:
    kind = element.get("type") or ""
    if (kind not in _TB_INCOMING) if incoming else (kind != "smtp"):
        return f"type {kind!r} not read"
    host, port = _first(element, "hostname"), _first(element, "port")
    # Thunderbird substitutes the placeholders inside any value (AccountConfig.sys.mjs,
    # replaceVariables): the one expansion of the package, autoconf.logins.expand.
    if host is None or not _legal_host(logins.expand(host, address)):
        return "hostname missing or not a legal host name"
    if port is None or not port.isdigit() or not 1 <= int(port) <= 65535:
        return "port missing or not in 1..65535"
    sockets = [_jxon(s) for s in _children(element, "socketType")]
    socket = next((_TB_SOCKET[s] for s in sockets if s in _TB_SOCKET), None)
    if socket is None:
        return "no socketType among plain, SSL, STARTTLS (case-sensitive)"
    allowed = _TB_AUTH_BOTH if incoming else _TB_AUTH_BOTH | _TB_AUTH_OUT_ONLY
    if not any(_jxon(a) in allowed for a in _children(element, "authentication")):
        return "no supported authentication"
    username = _first(element, "username")
    return Seen(
        protocol=kind,
        host=logins.expand(host, address).lower(),
        port=int(port),
        security=socket,
        username=logins.expand("undefined" if username is None else username, address),
    )


# --- POX Autodiscover (ExchangeAutoDiscover.sys.mjs, Delta Chat's auto_outlook.rs) -----

#: Thunderbird infers the socket type from the port (ExchangeAutoDiscover.sys.mjs).
_STARTTLS_PORTS = frozenset({143, 110, 25, 587})
_POX_MAIL_TYPES = {"IMAP": "imap", "POP3": "pop3", "SMTP": "smtp"}


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _path(element: etree._Element, *names: str, fold: bool = False) -> list[etree._Element]:
    """Descend by local names (namespaces are not checked by either client)."""
    level = [element]
    for name in names:
        level = [
            c
            for e in level
            for c in e
            if isinstance(c.tag, str)
            and (_local(c).lower() == name.lower() if fold else _local(c) == name)
        ]
    return level


def _text(element: etree._Element, name: str, *, fold: bool = False) -> str:
    found = _path(element, name, fold=fold)
    return (found[0].text or "").strip() if found else ""


def _pox_error(root: etree._Element) -> str:
    codes = [(e.text or "").strip() for e in root.iter() if _local(e) == "ErrorCode"]
    return f"Autodiscover error {codes[0] or '(no code)'}" if codes else ""


def read_pox_thunderbird(answer: Answer, address: Address) -> Reading:
    """Thunderbird's ExchangeAutoDiscover.sys.mjs (readAutoDiscoverXML): case-sensitive names,
    socket type from ``SSL``/``Encryption`` and then from the port, ``LoginName``."""
    root = _xml(answer)
    if isinstance(root, str):
        return Reading(error=root)
    if error := _pox_error(root):
        return Reading(error=error)
    accounts = _path(root, "Response", "Account")
    if accounts and (redirect := _text(accounts[0], "RedirectAddr")):
        return Reading(error=f"redirects to the address {redirect}")
    protocols = _path(root, "Response", "Account", "Protocol")
    if not protocols:
        return Reading(error="no Autodiscover/Response/Account/Protocol")
    notes: list[str] = []
    seen = [s for p in protocols if (s := _tb_pox_protocol(p, address, notes))]
    return _split(seen, notes)


def _tb_pox_protocol(element: etree._Element, address: Address, notes: list[str]) -> Seen | None:
    kind = _text(element, "Type")
    if kind not in _POX_MAIL_TYPES:
        notes.append(f"Protocol {kind or '(no Type)'} not compared")
        return None
    host, port = _text(element, "Server"), _text(element, "Port")
    if not _legal_host(host) or not port.isdigit():
        notes.append(f"Protocol {kind} skipped: Server or Port missing or invalid")
        return None
    plain = _text(element, "SSL").lower() == "off" or _text(element, "Encryption").lower() == "none"
    by_port = "starttls" if int(port) in _STARTTLS_PORTS else "tls"
    return Seen(
        protocol=_POX_MAIL_TYPES[kind],
        host=host.lower(),
        port=int(port),
        security="plain" if plain else by_port,
        username=_text(element, "LoginName") or str(address),
    )


def read_pox_deltachat(answer: Answer) -> Reading:
    """Delta Chat's src/configure/auto_outlook.rs: case-insensitive names, IMAP and SMTP only,
    ``SSL`` compared to lowercase ``off``, ``LoginName`` ignored (the address is used)."""
    root = _xml(answer)
    if isinstance(root, str):
        return Reading(error=root)
    if error := _pox_error(root):
        return Reading(error=error)
    blocks = [e for e in root.iter() if isinstance(e.tag, str) and _local(e).lower() == "protocol"]
    notes: list[str] = []
    seen = [s for b in blocks if (s := _dc_protocol(b, notes))]
    return _split(seen, notes)


def _dc_protocol(element: etree._Element, notes: list[str]) -> Seen | None:
    kind = _text(element, "type", fold=True).lower()
    host, port = _text(element, "server", fold=True), _text(element, "port", fold=True)
    if kind not in ("imap", "smtp"):
        notes.append(f"protocol {kind or '(no type)'} not read by Delta Chat")
        return None
    if not host or not port.isdigit():
        notes.append(f"protocol {kind} skipped: server or port missing")
        return None
    ssl = _text(element, "ssl", fold=True)
    return Seen(
        protocol=kind,
        host=host.lower(),
        port=int(port),
        security="plain" if ssl == "off" else "automatic",
    )


def _split(seen: Iterable[Seen], notes: list[str]) -> Reading:
    servers = list(seen)
    incoming = tuple(s for s in servers if s.protocol in ("imap", "pop3"))
    outgoing = tuple(s for s in servers if s.protocol == "smtp")
    if not incoming:
        return Reading(error="no usable incoming Protocol", notes=tuple(notes))
    return Reading(incoming=incoming, outgoing=outgoing, notes=tuple(notes))


# --- ActiveSync ([MS-ASCMD] 2.2.1.1) and Autodiscover v2 --------------------------------


def read_mobilesync(answer: Answer) -> Reading:
    """[MS-ASCMD] 4.2.4: Response/Action/Settings/Server[Type=MobileSync]/Url."""
    root = _xml(answer)
    if isinstance(root, str):
        return Reading(error=root)
    if error := _pox_error(root):
        return Reading(error=error)
    for server in _path(root, "Response", "Action", "Settings", "Server"):
        if _text(server, "Type") == "MobileSync":
            return Reading(url=_text(server, "Url"))
    return Reading(error="no MobileSync server in the answer")


def read_v2(answer: Answer) -> Reading:
    """Autodiscover v2: ``{"Protocol": "AutodiscoverV1", "Url": ...}`` with HTTP 200."""
    if answer.error:
        return Reading(error=answer.error)
    if answer.status != 200:
        return Reading(error=f"HTTP {answer.status}")
    try:
        data = json.loads(answer.body)
    except (ValueError, UnicodeDecodeError):
        return Reading(error="not JSON")
    url = data.get("Url") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url:
        return Reading(error="no Url in the JSON answer")
    return Reading(url=url)

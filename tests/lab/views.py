"""Each client's or format's answer, reduced to :class:`~tests.lab.variants.Endpoint` lists.

Incoming and outgoing servers in the order the source gives them, so sources can be
compared with each other and with the variant's expectation.
"""

from __future__ import annotations

import plistlib
from typing import Any

from lxml import etree

from tests.lab.variants import Endpoint

Servers = tuple[tuple[Endpoint, ...], tuple[Endpoint, ...]]

#: config-v1.1 ``socketType`` values, exact and case-sensitive (readFromXML.sys.mjs).
_XML_SOCKET = {"SSL": "tls", "STARTTLS": "starttls", "plain": "plain"}
#: Thunderbird's ``nsMsgSocketType``: 0 plain, 2 alwaysSTARTTLS, 3 SSL.
_TB_SOCKET = {0: "plain", 2: "starttls", 3: "tls"}


def from_config_xml(body: bytes) -> Servers:
    """Servers of a config-v1.1 document, as served."""
    provider = etree.fromstring(body).find("emailProvider")
    assert provider is not None

    def endpoint(server: Any) -> Endpoint:
        return Endpoint(
            protocol=server.get("type"),
            host=server.findtext("hostname"),
            port=int(server.findtext("port")),
            security=_XML_SOCKET[server.findtext("socketType")],
        )

    incoming = tuple(endpoint(s) for s in provider.iterfind("incomingServer"))
    outgoing = tuple(endpoint(s) for s in provider.iterfind("outgoingServer"))
    return incoming, outgoing


def from_thunderbird(summary: dict[str, Any]) -> Servers:
    """Servers of the ``AccountConfig`` Thunderbird built (primary first, then alternatives)."""

    def endpoints(servers: list[dict[str, Any]]) -> tuple[Endpoint, ...]:
        return tuple(
            Endpoint(
                protocol=s["type"],
                host=s["hostname"],
                port=s["port"],
                security=_TB_SOCKET[s["socketType"]],
            )
            for s in servers
        )

    return endpoints(summary["incoming"]), endpoints(summary["outgoing"])


def from_deltachat(used: dict[str, list[str]]) -> Servers:
    """Servers of Delta Chat's ``Used params`` (``host:port:security`` candidates)."""

    def endpoints(protocol: str) -> tuple[Endpoint, ...]:
        found = []
        for candidate in used.get(protocol, []):
            host, port, security = candidate.split(":")[:3]
            found.append(Endpoint(protocol=protocol, host=host, port=int(port), security=security))
        return tuple(found)

    return endpoints("imap"), endpoints("smtp")


def from_msmtp(text: str) -> Endpoint:
    """The submission server of an ``msmtp --configure`` account."""
    settings = dict(
        line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    if settings.get("tls") != "on":
        security = "plain"
    elif settings.get("tls_starttls") == "off":
        security = "tls"
    else:
        security = "starttls"
    return Endpoint(
        protocol="smtp", host=settings["host"], port=int(settings["port"]), security=security
    )


#: ``(SSL, Encryption)`` of a POX Protocol block ([MS-OXDSCLI] 2.2.4.1.1.2.10).
_POX_SECURITY = {("on", "SSL"): "tls", ("on", "TLS"): "starttls", ("off", ""): "plain"}
_POX_NS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


def from_pox(body: bytes) -> tuple[Servers, tuple[str, ...]]:
    """Mail servers (incoming, outgoing) and DAV URLs of an outlook 2006a answer."""
    account = etree.fromstring(body).find(f"{_POX_NS}Response/{_POX_NS}Account")
    assert account is not None, body
    incoming: list[Endpoint] = []
    outgoing: list[Endpoint] = []
    dav: list[str] = []
    for block in account.iterfind(f"{_POX_NS}Protocol"):
        kind = block.findtext(f"{_POX_NS}Type")
        server = block.findtext(f"{_POX_NS}Server")
        if kind in ("CalDAV", "CardDAV"):
            dav.append(server)
            continue
        ssl = block.findtext(f"{_POX_NS}SSL", "on")
        encryption = block.findtext(f"{_POX_NS}Encryption", "")
        endpoint = Endpoint(
            protocol=kind.lower(),
            host=server,
            port=int(block.findtext(f"{_POX_NS}Port")),
            security=_POX_SECURITY[(ssl, encryption)],
        )
        (outgoing if kind == "SMTP" else incoming).append(endpoint)
    return (tuple(incoming), tuple(outgoing)), tuple(dav)


def pox_request(address: str, schema: str = "outlook") -> str:
    """A POX request body for ``address`` (outlook 2006a or mobilesync 2006 response)."""
    base = f"http://schemas.microsoft.com/exchange/autodiscover/{schema}"
    request = f"{base}/requestschema/2006"
    response = f"{base}/responseschema/2006{'a' if schema == 'outlook' else ''}"
    return (
        f'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="{request}"><Request>'
        f"<EMailAddress>{address}</EMailAddress>"
        f"<AcceptableResponseSchema>{response}</AcceptableResponseSchema>"
        "</Request></Autodiscover>"
    )


def dav_from_config_xml(body: bytes) -> tuple[str, ...]:
    """CalDAV then CardDAV URLs of a config-v1.1 document (``calendar``/``addressbook``, as
    draft-ietf-mailmaint-autoconfig spells them)."""
    root = etree.fromstring(body)
    calendars = [c.findtext("url") for c in root.iterfind("calendar")]
    books = [b.findtext("url") for b in root.iterfind("addressbook")]
    return tuple(calendars + books)


def from_profile(body: bytes) -> tuple[tuple[Endpoint, Endpoint], tuple[str, ...]]:
    """The single mail account (incoming, outgoing) and DAV principal URLs of an Apple
    profile. ``*UseSSL`` cannot tell implicit TLS from STARTTLS: ``security`` is ``tls``
    when it is set (callers compare with :func:`apple_security`)."""
    payloads = plistlib.loads(body)["PayloadContent"]
    mail = next(p for p in payloads if p["PayloadType"] == "com.apple.mail.managed")
    protocol = {"EmailTypeIMAP": "imap", "EmailTypePOP": "pop3"}[mail["EmailAccountType"]]

    def endpoint(direction: str, kind: str) -> Endpoint:
        key = f"{direction}MailServer"
        return Endpoint(
            protocol=kind,
            host=mail[f"{key}HostName"],
            port=mail[f"{key}PortNumber"],
            security="tls" if mail[f"{key}UseSSL"] else "plain",
        )

    dav = tuple(
        p[f"{prefix}PrincipalURL"]
        for kind, prefix in (("caldav", "CalDAV"), ("carddav", "CardDAV"))
        for p in payloads
        if p["PayloadType"] == f"com.apple.{kind}.account"
    )
    return (endpoint("Incoming", protocol), endpoint("Outgoing", "smtp")), dav


def apple_security(endpoint: Endpoint) -> Endpoint:
    """``endpoint`` as an Apple profile can express it (any TLS is ``UseSSL``)."""
    security = "plain" if endpoint.security == "plain" else "tls"
    return Endpoint(
        protocol=endpoint.protocol, host=endpoint.host, port=endpoint.port, security=security
    )


def mobilesync_request(address: str) -> str:
    """An ActiveSync Autodiscover request body ([MS-ASCMD] 2.2.3)."""
    return pox_request(address, "mobilesync")

"""Apple configuration profiles (.mobileconfig) for Apple Mail, Calendar and Contacts.

Apple Mail on iOS and macOS reads no autoconfig: the user installs a profile. Keys: Apple's
Device Management reference (apple/device-management mdm/profiles: TopLevel, CommonPayloadKeys,
``com.apple.mail.managed``, ``com.apple.caldav.account``, ``com.apple.carddav.account``).
Built as a dictionary and serialised by :mod:`plistlib`, so every value is escaped by
construction (never templated text); the profile never holds a password.

Unlike the Thunderbird document, a profile carries the address itself (there are no
placeholders), so it is rendered per address and never cached by shared caches.
"""

from __future__ import annotations

import plistlib
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from autoconf import logins
from autoconf.address import Address
from autoconf.model import Authentication
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import Security
from autoconf.model import Server

#: Fixed namespace of every profile UUID, so a UUID depends on its identifier only.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:autoconf:mobileconfig")

ACCOUNT_TYPE = {Protocol.IMAP: "EmailTypeIMAP", Protocol.POP3: "EmailTypePOP"}
AUTHENTICATION = {
    Authentication.PASSWORD_CLEARTEXT: "EmailAuthPassword",
    Authentication.PASSWORD_ENCRYPTED: "EmailAuthCRAMMD5",
}
#: Payload type and key prefix of the two DAV account payloads.
DAV_PAYLOADS = {
    Protocol.CALDAV: ("com.apple.caldav.account", "CalDAV"),
    Protocol.CARDDAV: ("com.apple.carddav.account", "CardDAV"),
}
#: Longest ``EmailAccountName`` (the sender name) taken from a request, in characters.
MAX_SENDER_NAME = 64
#: Unicode categories dropped from a sender name: controls (CR, LF, NUL... which XML 1.0
#: cannot carry and which would end a header line), surrogates, unassigned and private-use
#: code points (U+FFFE and U+FFFF are not XML characters; neither kind means anything in
#: a name) and format characters (bidirectional overrides that would make the name
#: display as something else)...
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs", "Cn", "Co", "Cf"})
#: ...except the zero-width (non-)joiners that names in some scripts need.
_KEPT_FORMAT = frozenset("\u200c\u200d")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileOptions:
    """Operator choices from ``[mobileconfig]``."""

    organization: str = ""
    identifier_prefix: str = ""


def render(
    provider: Provider, address: Address, options: ProfileOptions, *, sender_name: str = ""
) -> bytes:
    """The unsigned profile (XML property list) for ``address``, from ``provider``'s servers.

    ``address`` may be at an alias domain of ``provider``: the account is the address the
    user asked for, served by the primary domain's servers, and its login follows the
    domain's ``alias_login`` (:mod:`autoconf.logins`). ``sender_name`` (already passed
    through :func:`clean_sender_name`) becomes ``EmailAccountName`` when not empty.
    """
    return plistlib.dumps(
        profile(provider, address, options, sender_name=sender_name), sort_keys=True
    )


def clean_sender_name(text: str) -> str:
    """A sender name from a request, made safe for ``EmailAccountName``: characters of
    :data:`_DROPPED_CATEGORIES` removed, whitespace runs collapsed, at most
    :data:`MAX_SENDER_NAME` characters. plistlib escapes the rest (``<``, ``&``)."""
    kept = "".join(
        c for c in text if c in _KEPT_FORMAT or unicodedata.category(c) not in _DROPPED_CATEGORIES
    )
    return " ".join(kept.split())[:MAX_SENDER_NAME].strip()


def profile(
    provider: Provider, address: Address, options: ProfileOptions, *, sender_name: str = ""
) -> dict[str, Any]:
    """The profile as a dictionary (what :func:`render` serialises)."""
    base = _identifier(address, options)
    dav = [servers[0] for p in DAV_PAYLOADS if (servers := provider.of(p))]
    services = ", ".join(["Mail", *(DAV_PAYLOADS[s.protocol][1] for s in dav)])
    return {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": base,
        "PayloadUUID": _uuid(base),
        "PayloadDisplayName": f"{provider.display_name} ({address})",
        "PayloadDescription": f"{services} settings for {address}",
        "PayloadOrganization": options.organization or provider.display_name,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": [
            _mail_payload(provider, address, f"{base}.mail", sender_name),
            *(_dav_payload(s, provider, address, f"{base}.{s.protocol}") for s in dav),
        ],
    }


def _identifier(address: Address, options: ProfileOptions) -> str:
    # PayloadIdentifier decides whether an installed profile is replaced (same identifier)
    # or a second one is added, so it is a pure function of the address. A UUID stands in
    # for the address: identifiers are reverse-DNS strings, and local parts may hold
    # anything (quotes, "<", non-ASCII).
    prefix = options.identifier_prefix or ".".join(
        (*reversed(address.domain.split(".")), "autoconf")
    )
    return f"{prefix}.{uuid.uuid5(NAMESPACE, str(address))}"


def _uuid(identifier: str) -> str:
    """A PayloadUUID as stable as its identifier (upper case, like Apple's tools)."""
    return str(uuid.uuid5(NAMESPACE, identifier)).upper()


def _common(kind: str, identifier: str, name: str) -> dict[str, Any]:
    return {
        "PayloadType": kind,
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier,
        "PayloadUUID": _uuid(identifier),
        "PayloadDisplayName": name,
    }


def use_ssl(server: Server) -> bool:
    """``*UseSSL``: true for implicit TLS and for STARTTLS.

    Apple's only knob is this flag; false lets the device log in without TLS when a
    network attacker strips STARTTLS. With the flag set on a STARTTLS port (587, 143, 110)
    Apple Mail upgrades with STARTTLS and insists on TLS (the choice automx2 and mailcow
    make too). :func:`mail_servers` still prefers implicit TLS when both are published.
    """
    return server.security is not Security.PLAIN


def _preferred(servers: tuple[Server, ...]) -> Server | None:
    # Implicit TLS first whatever the priorities say: a STARTTLS session starts in
    # cleartext and Apple Mail cannot be told to require the upgrade (RFC 8314 section 3).
    return next((s for s in servers if s.security is Security.TLS), servers[0] if servers else None)


def mail_servers(provider: Provider) -> tuple[Server, Server]:
    """The incoming and outgoing server of the profile's single mail account.

    IMAP whenever the domain offers it, even when POP3 has the better priority: a profile
    sets up one account, and IMAP keeps mail on the server for the user's other devices.

    :raises ValueError: when the provider is not usable (the caller checks first).
    """
    incoming = _preferred(provider.of(Protocol.IMAP)) or _preferred(provider.of(Protocol.POP3))
    outgoing = _preferred(provider.outgoing)
    if incoming is None or outgoing is None:
        raise ValueError(f"{provider.domain} has no incoming or outgoing server")
    return incoming, outgoing


def _mail_payload(
    provider: Provider, address: Address, identifier: str, sender_name: str
) -> dict[str, Any]:
    incoming, outgoing = mail_servers(provider)
    # EmailAccountName: the full user name the device shows in sent messages
    # (apple/device-management com.apple.mail.managed.yaml); optional, from ?name=.
    name = {"EmailAccountName": sender_name} if sender_name else {}
    return {
        **_common("com.apple.mail.managed", identifier, "Mail"),
        **name,
        "EmailAccountDescription": provider.display_name,
        "EmailAccountType": ACCOUNT_TYPE[incoming.protocol],
        "EmailAddress": str(address),
        **_mail_server("Incoming", incoming, logins.login(provider, incoming.username, address)),
        **_mail_server("Outgoing", outgoing, logins.login(provider, outgoing.username, address)),
        # Asked once at installation instead of twice; the profile itself holds none.
        "OutgoingPasswordSameAsIncomingPassword": True,
    }


def _mail_server(direction: str, server: Server, login: str) -> dict[str, Any]:
    key = f"{direction}MailServer"
    return {
        f"{key}HostName": server.host,
        f"{key}PortNumber": server.port,
        f"{key}UseSSL": use_ssl(server),
        f"{key}Username": login,
        f"{key}Authentication": AUTHENTICATION[server.authentication],
    }


def _dav_payload(
    server: Server, provider: Provider, address: Address, identifier: str
) -> dict[str, Any]:
    kind, prefix = DAV_PAYLOADS[server.protocol]
    return {
        **_common(kind, identifier, prefix),
        f"{prefix}AccountDescription": provider.display_name,
        f"{prefix}HostName": server.host,
        f"{prefix}Port": server.port,
        # The SRV/TXT context URL (RFC 6764): the device finds the principal from there
        # (current-user-principal), the same URL /.well-known/ redirects to. macOS
        # ignores CardDAVPrincipalURL (apple/device-management com.apple.carddav.account:
        # macOS "n/a") and starts at the host and port, so the DAV host itself has to
        # answer /.well-known/carddav (docs/admin-guide.md, "CalDAV and CardDAV").
        f"{prefix}PrincipalURL": server.url,
        f"{prefix}UseSSL": use_ssl(server),
        f"{prefix}Username": logins.login(provider, server.username, address),
    }

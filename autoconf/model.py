"""The provider model: plain, frozen values shared by discovery, renderers and the CLI.

Pure module: imports neither Flask nor dnspython. Record sources translate DNS answers into
:class:`RRset` values; :mod:`autoconf.discovery` turns those into a :class:`Provider`;
renderers turn a provider into bytes.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

from autoconf.names import host_name_problem
from autoconf.names import is_context_path


class Protocol(enum.StrEnum):
    """Services a provider can offer."""

    IMAP = "imap"
    POP3 = "pop3"
    SMTP = "smtp"
    CALDAV = "caldav"
    CARDDAV = "carddav"


class Security(enum.StrEnum):
    """How a connection is protected."""

    #: TLS from the first byte (RFC 8314 section 2: "implicit TLS").
    TLS = "tls"
    #: Cleartext connect, then STARTTLS / STLS before authentication (RFC 6186 section 3).
    STARTTLS = "starttls"
    #: No TLS at all. Never derived from SRV; renderers still map it so they are total.
    PLAIN = "plain"


class Authentication(enum.StrEnum):
    """Password mechanisms, named as in Thunderbird's config-v1.1 format."""

    #: Plain password over the (TLS-protected) connection.
    PASSWORD_CLEARTEXT = "password-cleartext"
    #: Challenge-response (CRAM-MD5 and the like).
    PASSWORD_ENCRYPTED = "password-encrypted"


class Username(enum.StrEnum):
    """Login name templates (Thunderbird placeholders)."""

    #: RFC 6186 section 4 tells MUAs to try the full address first.
    EMAILADDRESS = "%EMAILADDRESS%"
    EMAILLOCALPART = "%EMAILLOCALPART%"


class AliasLogin(enum.StrEnum):
    """The login an address at an alias domain is given (``domains.<d>.alias_login``).

    ``%EMAILADDRESS%`` alone would make ``alice@alias`` log in as ``alice@alias`` in the
    Thunderbird document and the Apple profile, while POX redirects Outlook to
    ``alice@primary`` ([MS-OXDSCLI] 3.2.5): one rule for every format instead.
    """

    #: ``alice@alias`` logs in as ``alice@primary``: what servers that keep one mailbox
    #: per primary address and accept alias addresses only for delivery authenticate.
    PRIMARY = "primary"
    #: ``alice@alias`` logs in as ``alice@alias``: for servers that map alias logins.
    ADDRESS = "address"


class Status(enum.Enum):
    """Outcome of one DNS question."""

    ANSWER = "answer"
    #: The name does not exist (RFC 8020: nothing below it exists either).
    NXDOMAIN = "nxdomain"
    #: The name exists but has no record of the asked type.
    NODATA = "nodata"
    #: SERVFAIL, REFUSED, timeout: no answer at all. Never treated as absence.
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class SrvRecord:
    """One SRV resource record (RFC 2782). ``target`` is "" for the root name "."; else the
    name as the record source read it (DNS presentation form, odd octets escaped), not yet
    known to be a host name: :mod:`autoconf.discovery` drops those that are not."""

    priority: int
    weight: int
    port: int
    target: str

    @property
    def not_offered(self) -> bool:
        """RFC 2782: a target of "." means the service is decidedly not available."""
        return self.target == ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RRset:
    """The answer to one question (name, type), as any record source reports it.

    ``ttl`` is the record TTL for answers and the negative-caching TTL (RFC 2308 section 5)
    for NXDOMAIN/NODATA; ``authenticated`` is true when the answer came with the DNSSEC AD
    bit from a validating resolver the operator trusts.
    """

    name: str
    rdtype: str
    status: Status
    ttl: int = 0
    srv: tuple[SrvRecord, ...] = ()
    #: TXT strings (each record's character-strings joined, decoded as UTF-8).
    txt: tuple[str, ...] = ()
    #: Presentation form of records of any other type (CNAME, A, ...), for lint only.
    rdata: tuple[str, ...] = ()
    authenticated: bool = False
    error: str = ""


Question = tuple[str, str]
"""An absolute owner name with its trailing dot, and an RR type mnemonic ("SRV")."""


class RecordSource(typing.Protocol):
    """Anything that can answer DNS questions: live DNS, zone files, a test double."""

    def ask(self, questions: Sequence[Question]) -> dict[Question, RRset]:
        """Answer every question; never raise for DNS conditions (use ``Status``)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Server:
    """One way to reach one service, in a client-independent form."""

    protocol: Protocol
    host: str
    port: int
    security: Security
    authentication: Authentication
    username: Username
    #: SRV label the server came from (e.g. "_imaps"); "" when not from DNS.
    label: str = ""
    priority: int = 0
    weight: int = 0
    #: CalDAV/CardDAV context path (RFC 6764 section 4); "" when none was published.
    path: str = ""

    def __post_init__(self) -> None:
        # The parts of every URL and host name a client is told: a host that is not a host
        # name (``evil.org/.victim.test``) would move the URL's authority elsewhere. The
        # derivation drops such records first; this makes a bad Server impossible to build.
        problem = host_name_problem(self.host)
        if problem:
            raise ValueError(f"server host {self.host!r}: {problem}")
        if not 0 < self.port < 65536:
            raise ValueError(f"server port {self.port} out of range")
        if self.path and not is_context_path(self.path):
            raise ValueError(f"server path {self.path!r} is not an absolute URL path")

    @property
    def url(self) -> str:
        """The https/http URL of a CalDAV/CardDAV server (its context path), built only
        from the validated host, port and path.

        RFC 6764 section 6: without a TXT ``path`` the client starts at the target's
        ``/.well-known/caldav`` (or ``carddav``), not at its root.
        """
        scheme = "http" if self.security is Security.PLAIN else "https"
        default = 80 if scheme == "http" else 443
        port = "" if self.port == default else f":{self.port}"
        path = self.path or _well_known_path(self.protocol)
        return f"{scheme}://{self.host}{port}{path}"


def _well_known_path(protocol: Protocol) -> str:
    if protocol in (Protocol.CALDAV, Protocol.CARDDAV):
        return f"/.well-known/{protocol.value}"
    return "/"


@dataclass(frozen=True, slots=True, kw_only=True)
class Dropped:
    """An SRV record that was seen but not used, and why."""

    label: str
    record: SrvRecord
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """A lint finding about the domain's records, with the rule it comes from."""

    severity: str  # "error" | "warning" | "info"
    code: str
    message: str
    reference: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Provider:
    """Everything a client needs to set up accounts at one domain.

    ``servers`` holds, per protocol, the usable servers in preference order. ``incoming``
    orders the incoming protocols by RFC 6186 section 3.4. ``ttl`` is the lifetime of the
    DNS data the provider was derived from.
    """

    domain: str
    display_name: str
    aliases: tuple[str, ...] = ()
    servers: dict[Protocol, tuple[Server, ...]] = field(default_factory=dict)
    incoming_order: tuple[Protocol, ...] = ()
    dropped: tuple[Dropped, ...] = ()
    findings: tuple[Finding, ...] = ()
    ttl: int = 0
    activesync_url: str = ""
    alias_login: AliasLogin = AliasLogin.PRIMARY

    def of(self, protocol: Protocol) -> tuple[Server, ...]:
        """Servers for one protocol (empty when not offered)."""
        return self.servers.get(protocol, ())

    @property
    def incoming(self) -> tuple[Server, ...]:
        """All incoming servers, preferred protocol first."""
        return tuple(s for p in self.incoming_order for s in self.of(p))

    @property
    def outgoing(self) -> tuple[Server, ...]:
        """All submission servers in preference order."""
        return self.of(Protocol.SMTP)

    @property
    def usable(self) -> bool:
        """A mail client needs at least one incoming and one outgoing server."""
        # Asked on every request: test the protocols without building ``incoming``.
        return bool(self.of(Protocol.SMTP)) and any(self.of(p) for p in self.incoming_order)

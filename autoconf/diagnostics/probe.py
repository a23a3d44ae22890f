"""``mail-autoconf check --probe``: connect to every server clients are told about.

Autoconfiguration most often goes wrong in the field on the server side: the records are
fine, but the server behind them listens on another port, offers no STARTTLS, shows a
certificate for another name or an expired one, or refuses the mechanism the answer
advertises. This module talks to each server as a client would up to the point where it
would send a credential, and never further: no ``AUTH``, no ``LOGIN``, no ``USER``, no
``Authorization`` header.

I/O module (sockets and :mod:`ssl` from the standard library). Names are resolved through a
:class:`~autoconf.model.RecordSource` (the configured nameservers), never the system
resolver. Every server is untrusted input: each read is bounded in line length, line
count and total bytes, and each server gets one deadline for connect, TLS and dialogue.

Protocol dialogues:

- IMAP (RFC 9051 §6.1.1, §6.2.1; RFC 3501): greeting, ``CAPABILITY``, ``STARTTLS``,
  ``CAPABILITY`` again (§6.2.1: capabilities from before TLS are void), ``LOGOUT``.
- POP3 (RFC 1939, RFC 2449 ``CAPA``, RFC 2595 §4 ``STLS``): greeting, ``CAPA``, ``STLS``,
  ``CAPA`` again, ``QUIT``.
- Submission (RFC 6409, RFC 3207, RFC 4954): greeting, ``EHLO``, ``STARTTLS``, ``EHLO``
  again (RFC 3207 §4.2), ``QUIT``; implicit TLS on 465 (RFC 8314 §3.3).
- CalDAV/CardDAV (RFC 4918 §10.1, RFC 4791 §5.1, RFC 6352 §6.1): ``OPTIONS`` for the
  ``DAV:`` header and ``PROPFIND`` (Depth 0) expecting 207 or 401, redirects followed.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import re
import socket
import ssl
import time
import urllib.parse
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from autoconf.model import Authentication
from autoconf.model import Finding
from autoconf.model import Protocol
from autoconf.model import RecordSource
from autoconf.model import Security
from autoconf.model import Server

#: Longest line read from a server (an IMAP CAPABILITY line is a few hundred bytes).
MAX_LINE = 8192
#: Most lines in one response (EHLO, CAPA, untagged IMAP responses).
MAX_LINES = 100
#: Most bytes read from one connection, all responses together.
MAX_BYTES = 256 * 1024
#: Most addresses tried for one server (a client tries them in turn too).
MAX_ADDRESSES = 4
#: Most HTTP redirects followed from a DAV URL (RFC 6764 §5 well-known, then the server's own).
MAX_REDIRECTS = 3
#: A certificate closer to its end than this is a warning (ACME renews at 30 days left).
EXPIRY_WARNING_DAYS = 14
#: Password mechanisms a client may use for ``password-cleartext`` (RFC 4616, the LOGIN draft).
CLEARTEXT_MECHANISMS = frozenset({"PLAIN", "LOGIN"})
#: Challenge-response mechanisms for ``password-encrypted`` (RFC 2195, RFC 5802).
ENCRYPTED_MECHANISMS = frozenset({"CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"})


class ProbeError(Exception):
    """The server broke the dialogue: its message is a finding's text."""

    def __init__(self, code: str, message: str, reference: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reference = reference


@dataclass(frozen=True, slots=True, kw_only=True)
class Certificate:
    """What the server's leaf certificate says (read whether or not it verified)."""

    subject: str
    names: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime

    def days_left(self, now: datetime.datetime) -> int:
        return (self.not_after - now).days

    def as_dict(self, now: datetime.datetime) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "names": list(self.names),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "days_left": self.days_left(now),
        }


@dataclass(slots=True, kw_only=True)
class ServerProbe:
    """Everything learnt about one server; ``findings`` say what is wrong (or fine)."""

    server: Server
    address: str = ""
    greeting: str = ""
    #: Capabilities (IMAP CAPABILITY, POP3 CAPA, EHLO keywords) in cleartext, before STARTTLS.
    before_tls: tuple[str, ...] = ()
    #: Capabilities over TLS.
    capabilities: tuple[str, ...] = ()
    tls_version: str = ""
    certificate: Certificate | None = None
    #: DAV: the status of each request made, and the DAV header of the answer.
    http: tuple[str, ...] = ()
    dav: str = ""
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    @property
    def where(self) -> str:
        """How the server is named in output: its URL for DAV, host:port otherwise."""
        s = self.server
        if s.protocol in (Protocol.CALDAV, Protocol.CARDDAV):
            return s.url
        return f"{s.host}:{s.port}"

    def add(self, severity: str, code: str, message: str, reference: str = "") -> None:
        self.findings.append(
            Finding(severity=severity, code=code, message=message, reference=reference)
        )

    def as_dict(self, now: datetime.datetime) -> dict[str, Any]:
        s = self.server
        return {
            "protocol": s.protocol.value,
            "host": s.host,
            "port": s.port,
            "security": s.security.value,
            **({"url": s.url} if s.protocol in (Protocol.CALDAV, Protocol.CARDDAV) else {}),
            "address": self.address or None,
            "greeting": self.greeting or None,
            "capabilities_before_tls": list(self.before_tls),
            "capabilities": list(self.capabilities),
            "tls_version": self.tls_version or None,
            "certificate": self.certificate.as_dict(now) if self.certificate else None,
            "http": list(self.http),
            "dav": self.dav or None,
            "findings": [
                {
                    "severity": f.severity,
                    "code": f.code,
                    "message": f.message,
                    "reference": f.reference,
                }
                for f in self.findings
            ],
            "ok": self.ok,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeOptions:
    """``cafile``: PEM bundle to verify against instead of the system store."""

    timeout: float = 10.0
    cafile: str | None = None
    #: Name sent in EHLO; an address literal of our own end when empty (RFC 5321 §4.1.3).
    ehlo: str = ""


def probe_servers(
    servers: Iterable[Server], source: RecordSource, options: ProbeOptions
) -> tuple[ServerProbe, ...]:
    """Probe each server in turn (one at a time: an admin's command, not a scanner)."""
    return tuple(probe_server(server, source, options) for server in servers)


def probe_server(server: Server, source: RecordSource, options: ProbeOptions) -> ServerProbe:
    """Resolve, connect, do TLS as advertised, talk until a credential would be due."""
    result = ServerProbe(server=server)
    addresses = resolve(server.host, source, result)
    if not addresses:
        return result
    if server.protocol in (Protocol.CALDAV, Protocol.CARDDAV):
        _probe_dav(result, addresses, options)
    else:
        _probe_mail(result, addresses, options)
    return result


def resolve(host: str, source: RecordSource, result: ServerProbe) -> list[str]:
    """The host's IPv6 then IPv4 addresses (as a dual-stack client prefers), at most
    :data:`MAX_ADDRESSES`; an error finding when there are none."""
    name = host.rstrip(".") + "."
    answers = source.ask([(name, "AAAA"), (name, "A")])
    addresses: list[str] = []
    failures = []
    for question in ((name, "AAAA"), (name, "A")):
        rrset = answers[question]
        if rrset.error:
            failures.append(f"{question[1]}: {rrset.error}")
        for text in rrset.rdata:
            try:
                addresses.append(str(ipaddress.ip_address(text)))
            except ValueError:
                continue  # not an address (a stray record type): nothing to connect to
    if not addresses:
        why = "; ".join(failures) or "no A or AAAA record"
        result.add("error", "no-address", f"{host} has no address: {why}", "RFC 6186 §3.1")
    return addresses[:MAX_ADDRESSES]


# --- connections and TLS --------------------------------------------------------------------


class _Deadline:
    """One time budget for a whole server: connect, TLS and every read."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise ProbeError("timeout", f"no complete answer within {self.seconds:g} s")
        return left


class _Lines:
    """A bounded line reader over a plain or TLS socket."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self.sock = sock
        self.deadline = deadline
        self.buffer = b""
        self.total = 0

    def line(self) -> str:
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_LINE:
                raise ProbeError("protocol-error", f"a line longer than {MAX_LINE} bytes")
            self._fill()
        raw, _, self.buffer = self.buffer.partition(b"\n")
        if len(raw) > MAX_LINE:
            raise ProbeError("protocol-error", f"a line longer than {MAX_LINE} bytes")
        return raw.rstrip(b"\r").decode("utf-8", errors="replace")

    def _fill(self) -> None:
        self.sock.settimeout(self.deadline.left())
        try:
            chunk = self.sock.recv(16384)
        except TimeoutError:
            raise ProbeError(
                "timeout", f"no complete answer within {self.deadline.seconds:g} s"
            ) from None
        except ssl.SSLError as exc:
            raise ProbeError("protocol-error", f"TLS error while reading: {_reason(exc)}") from None
        except OSError as exc:
            raise ProbeError("protocol-error", f"connection error: {_os_reason(exc)}") from None
        if not chunk:
            raise ProbeError("protocol-error", "the server closed the connection")
        self.total += len(chunk)
        if self.total > MAX_BYTES:
            raise ProbeError("protocol-error", f"more than {MAX_BYTES} bytes from the server")
        self.buffer += chunk

    def send(self, data: bytes) -> None:
        self.sock.settimeout(self.deadline.left())
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ProbeError("protocol-error", f"connection error: {_os_reason(exc)}") from None


def _connect(
    result: ServerProbe, addresses: Sequence[str], port: int, deadline: _Deadline
) -> socket.socket:
    """A TCP connection to the first address that takes it (a warning per refusing one
    when another works, an error when none does)."""
    failed: list[str] = []
    for address in addresses:
        try:
            sock = socket.create_connection((address, port), timeout=deadline.left())
        except ProbeError:
            break
        except OSError as exc:
            failed.append(f"{_display(address)} port {port}: {_os_reason(exc)}")
            continue
        if not result.address:
            result.address = address
            for failure in failed:
                result.add("warning", "address-unreachable", f"cannot connect to {failure}")
        return sock
    reasons = "; ".join(failed) or f"no connection within {deadline.seconds:g} s"
    raise ProbeError("connect-failed", f"cannot connect to {reasons}", "RFC 6186 §3")


def _display(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _context(options: ProbeOptions, *, verify: bool) -> ssl.SSLContext:
    if verify:
        context = ssl.create_default_context(cafile=options.cafile)
    else:
        # Only to read a certificate that failed verification and finish the dialogue;
        # nothing secret is ever sent, over this connection or any other.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class _CertificateRejected(Exception):
    def __init__(self, error: ssl.SSLCertVerificationError) -> None:
        super().__init__(str(error))
        self.error = error


def _start_tls(
    result: ServerProbe, sock: socket.socket, context: ssl.SSLContext, deadline: _Deadline
) -> ssl.SSLSocket:
    sock.settimeout(deadline.left())
    try:
        tls = context.wrap_socket(sock, server_hostname=result.server.host)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise _CertificateRejected(exc) from None
    except TimeoutError:
        raise ProbeError(
            "tls-failed", f"no TLS handshake within {deadline.seconds:g} s", "RFC 8314 §3"
        ) from None
    except (ssl.SSLError, OSError) as exc:
        raise ProbeError(
            "tls-failed", f"TLS handshake failed: {_reason(exc)}", "RFC 8314 §3"
        ) from None
    result.tls_version = tls.version() or ""
    der = tls.getpeercert(binary_form=True)
    if der:
        result.certificate = _read_certificate(der)
    return tls


def _read_certificate(der: bytes) -> Certificate | None:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = tuple(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    subject = str(common[0].value) if common else cert.subject.rfc4514_string()
    return Certificate(
        subject=subject,
        names=names,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def _name_matches(host: str, names: Iterable[str]) -> bool:
    """RFC 6125 §6.4: DNS-ID match, a wildcard only as the whole left-most label."""
    host = host.rstrip(".").lower()
    for name in names:
        name = name.rstrip(".").lower()
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def _certificate_findings(
    result: ServerProbe, rejected: ssl.SSLCertVerificationError | None, now: datetime.datetime
) -> None:
    """Findings on the certificate: each fault with its own code, then the days left."""
    cert = result.certificate
    host = result.server.host
    if cert is None:
        if rejected is not None:
            result.add("error", "cert-untrusted", f"certificate rejected: {_verify_text(rejected)}")
        return
    days = cert.days_left(now)
    faults = 0
    if now > cert.not_after:
        faults += 1
        result.add(
            "error",
            "cert-expired",
            f"certificate expired on {cert.not_after:%Y-%m-%d} ({-days} days ago)",
            "RFC 5280 §4.1.2.5",
        )
    elif now < cert.not_before:
        faults += 1
        result.add(
            "error",
            "cert-not-yet-valid",
            f"certificate is not valid before {cert.not_before:%Y-%m-%d}",
            "RFC 5280 §4.1.2.5",
        )
    if not _name_matches(host, cert.names):
        faults += 1
        shown = ", ".join(cert.names[:5]) or f"no DNS name (subject {cert.subject})"
        more = f" and {len(cert.names) - 5} more" if len(cert.names) > 5 else ""
        result.add(
            "error",
            "cert-name-mismatch",
            f"certificate names {shown}{more}, not {host} (the SRV target clients connect to)",
            "RFC 6125 §6; RFC 6186 §6",
        )
    if rejected is not None and (faults == 0 or rejected.verify_code not in _DATE_OR_NAME):
        result.add("error", "cert-untrusted", f"certificate rejected: {_verify_text(rejected)}")
    if rejected is None and days < EXPIRY_WARNING_DAYS:
        result.add(
            "warning",
            "cert-expiring",
            f"certificate expires in {days} days ({cert.not_after:%Y-%m-%d})",
        )
    elif rejected is None:
        result.add(
            "info",
            "cert-valid",
            f"certificate for {host} verified, valid for {days} more days "
            f"(until {cert.not_after:%Y-%m-%d})",
        )


#: OpenSSL verify codes for the faults reported on their own: 9/10 dates, 62 host name.
_DATE_OR_NAME = frozenset({9, 10, 62})


def _verify_text(error: ssl.SSLCertVerificationError) -> str:
    return str(error.verify_message or error.reason or error)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return _os_reason(exc)


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


# --- mail dialogues ---------------------------------------------------------------------------


def _probe_mail(result: ServerProbe, addresses: Sequence[str], options: ProbeOptions) -> None:
    def attempt(context: ssl.SSLContext, deadline: _Deadline) -> None:
        sock = _connect(result, addresses, result.server.port, deadline)
        session = _Session(result, sock, context, options, deadline)
        try:
            if session.implicit:
                session.tls()
            _DIALOGUES[result.server.protocol](result, session)
        finally:
            session.lines.sock.close()
            sock.close()

    _verified_then_not(result, attempt, options)


def _verified_then_not(
    result: ServerProbe,
    attempt: Callable[[ssl.SSLContext, _Deadline], None],
    options: ProbeOptions,
) -> None:
    """Run ``attempt`` with a verifying TLS context; when the certificate is refused, run
    it again without verification to read the certificate and check the rest of the
    dialogue (nothing secret is ever sent, so an unverified connection costs nothing).
    Then the certificate findings."""
    now = datetime.datetime.now(datetime.UTC)
    rejected: ssl.SSLCertVerificationError | None = None
    for verify in (True, False):
        kept = list(result.findings)
        try:
            attempt(_context(options, verify=verify), _Deadline(options.timeout))
        except _CertificateRejected as exc:
            rejected = exc.error
            result.findings = kept
            result.before_tls, result.http, result.address = (), (), ""
            continue
        except ProbeError as exc:
            result.add("error", exc.code, exc.message, exc.reference)
        break
    if result.tls_version:
        _certificate_findings(result, rejected, now)
    elif rejected is not None:  # the second attempt failed before its handshake
        result.add("error", "cert-untrusted", f"certificate rejected: {_verify_text(rejected)}")


class _Session:
    """One connection: the line reader, and the switch to TLS (implicit or STARTTLS)."""

    def __init__(
        self,
        result: ServerProbe,
        sock: socket.socket,
        context: ssl.SSLContext,
        options: ProbeOptions,
        deadline: _Deadline,
    ) -> None:
        self.result = result
        self.context = context
        self.options = options
        self.deadline = deadline
        self.lines = _Lines(sock, deadline)
        self.implicit = result.server.security is Security.TLS

    def tls(self) -> None:
        if self.lines.buffer:
            # RFC 3207 §6, RFC 2595 §3.1: bytes sent before the TLS handshake must not be
            # read as if they came after it (the STARTTLS command-injection flaw).
            raise ProbeError(
                "starttls-injection",
                "the server sent data after its STARTTLS answer, before the TLS handshake",
                "RFC 3207 §6",
            )
        tls = _start_tls(self.result, self.lines.sock, self.context, self.deadline)
        self.lines.sock = tls

    def send(self, command: str) -> None:
        self.lines.send(command.encode("ascii") + b"\r\n")

    def ehlo_name(self) -> str:
        if self.options.ehlo:
            return self.options.ehlo
        own = self.lines.sock.getsockname()[0]
        return f"[IPv6:{own}]" if ":" in own else f"[{own}]"


def _imap(result: ServerProbe, session: _Session) -> None:
    greeting = session.lines.line()
    result.greeting = greeting
    if not greeting.upper().startswith("* OK"):
        raise _bad_greeting(greeting, "* OK", "RFC 9051 §7.1.1")
    capabilities = _imap_capabilities(session, "a1")
    if not session.implicit:
        result.before_tls = capabilities
        _cleartext_auth_findings(result, _imap_mechanisms(capabilities), "RFC 9051 §6.2.3")
        if "LOGINDISABLED" not in capabilities:
            result.add(
                "warning",
                "login-before-tls",
                "LOGIN is allowed before STARTTLS (no LOGINDISABLED): a client could send "
                "the password in clear",
                "RFC 9051 §6.2.3",
            )
        if "STARTTLS" not in capabilities:
            raise ProbeError(
                "starttls-missing",
                "STARTTLS is not offered (CAPABILITY without STARTTLS)",
                "RFC 9051 §6.2.1",
            )
        session.send("a2 STARTTLS")
        answer = _imap_tagged(session, "a2")[-1]
        if not answer.upper().startswith("A2 OK"):
            raise ProbeError("starttls-refused", f"STARTTLS refused: {_clip(answer)}")
        session.tls()
        capabilities = _imap_capabilities(session, "a3")
    result.capabilities = capabilities
    login = () if "LOGINDISABLED" in capabilities else ("LOGIN",)
    _offered_auth_findings(result, (*_imap_mechanisms(capabilities), *login), "RFC 9051 §6.2")
    session.send("a4 LOGOUT")


def _imap_capabilities(session: _Session, tag: str) -> tuple[str, ...]:
    session.send(f"{tag} CAPABILITY")
    lines = _imap_tagged(session, tag)
    if not lines[-1].upper().startswith(f"{tag.upper()} OK"):
        raise ProbeError("protocol-error", f"CAPABILITY failed: {_clip(lines[-1])}")
    words: list[str] = []
    for line in lines[:-1]:
        if line.upper().startswith("* CAPABILITY "):
            words += line.split()[2:]
    return tuple(w.upper() for w in words)


def _imap_tagged(session: _Session, tag: str) -> list[str]:
    """Lines up to and including the tagged completion of ``tag``."""
    lines = []
    for _ in range(MAX_LINES):
        line = session.lines.line()
        lines.append(line)
        if line.upper().startswith(f"{tag.upper()} "):
            return lines
    raise ProbeError("protocol-error", f"more than {MAX_LINES} lines before the end of an answer")


def _imap_mechanisms(capabilities: Iterable[str]) -> tuple[str, ...]:
    return tuple(c[5:] for c in capabilities if c.startswith("AUTH="))


def _pop3(result: ServerProbe, session: _Session) -> None:
    greeting = session.lines.line()
    result.greeting = greeting
    if not greeting.startswith("+OK"):
        raise _bad_greeting(greeting, "+OK", "RFC 1939 §4")
    capabilities = _pop3_capa(session)
    if not session.implicit:
        result.before_tls = capabilities
        _cleartext_auth_findings(result, _pop3_mechanisms(capabilities), "RFC 2595 §4")
        if "USER" in capabilities:
            result.add(
                "warning",
                "login-before-tls",
                "USER/PASS is offered before STLS: a client could send the password in clear",
                "RFC 2595 §4",
            )
        if "STLS" not in capabilities:
            raise ProbeError(
                "starttls-missing", "STLS is not offered (CAPA without STLS)", "RFC 2595 §4"
            )
        session.send("STLS")
        answer = session.lines.line()
        if not answer.startswith("+OK"):
            raise ProbeError("starttls-refused", f"STLS refused: {_clip(answer)}")
        session.tls()
        capabilities = _pop3_capa(session)
    result.capabilities = capabilities
    user = ("USER",) if "USER" in capabilities else ()
    _offered_auth_findings(result, (*_pop3_mechanisms(capabilities), *user), "RFC 5034 §4")
    session.send("QUIT")


def _pop3_capa(session: _Session) -> tuple[str, ...]:
    session.send("CAPA")
    first = session.lines.line()
    if not first.startswith("+OK"):
        raise ProbeError("protocol-error", f"CAPA failed: {_clip(first)}", "RFC 2449 §5")
    found: list[str] = []
    for _ in range(MAX_LINES):
        line = session.lines.line()
        if line == ".":
            return tuple(found)
        found.append(line.upper())
    raise ProbeError("protocol-error", f"more than {MAX_LINES} lines before the end of an answer")


def _pop3_mechanisms(capabilities: Iterable[str]) -> tuple[str, ...]:
    return tuple(m for c in capabilities if c.startswith("SASL ") for m in c.split()[1:])


def _smtp(result: ServerProbe, session: _Session) -> None:
    code, greeting = _smtp_reply(session)
    result.greeting = greeting[0] if greeting else ""
    if code != 220:
        raise _bad_greeting(f"{code} {result.greeting}", "220", "RFC 5321 §4.2")
    keywords = _smtp_ehlo(session)
    if not session.implicit:
        result.before_tls = keywords
        _cleartext_auth_findings(result, _smtp_mechanisms(keywords), "RFC 4954 §4")
        if "STARTTLS" not in keywords:
            raise ProbeError(
                "starttls-missing", "STARTTLS is not offered (EHLO without STARTTLS)", "RFC 3207 §4"
            )
        session.send("STARTTLS")
        code, text = _smtp_reply(session)
        if code != 220:
            raise ProbeError(
                "starttls-refused", f"STARTTLS refused: {code} {_clip(' '.join(text))}"
            )
        session.tls()
        keywords = _smtp_ehlo(session)
    result.capabilities = keywords
    _offered_auth_findings(result, _smtp_mechanisms(keywords), "RFC 4954 §3; RFC 6409 §4.3")
    session.send("QUIT")


def _smtp_ehlo(session: _Session) -> tuple[str, ...]:
    session.send(f"EHLO {session.ehlo_name()}")
    code, lines = _smtp_reply(session)
    if code != 250:
        raise ProbeError("protocol-error", f"EHLO refused: {code} {_clip(' '.join(lines))}")
    return tuple(line.upper() for line in lines[1:])


_SMTP_LINE = re.compile(r"^([2-5][0-9][0-9])([ -])(.*)$")


def _smtp_reply(session: _Session) -> tuple[int, list[str]]:
    """RFC 5321 §4.2.1: ``NNN-text`` lines, then ``NNN text``; every line the same code."""
    texts = []
    code = 0
    for _ in range(MAX_LINES):
        line = session.lines.line()
        found = _SMTP_LINE.match(line)
        if found is None or (code and int(found.group(1)) != code):
            raise ProbeError("protocol-error", f"not an SMTP reply: {_clip(line)}", "RFC 5321 §4.2")
        code = int(found.group(1))
        texts.append(found.group(3))
        if found.group(2) == " ":
            return code, texts
    raise ProbeError("protocol-error", f"more than {MAX_LINES} lines before the end of an answer")


def _smtp_mechanisms(keywords: Iterable[str]) -> tuple[str, ...]:
    return tuple(m for k in keywords if k.startswith("AUTH ") for m in k.split()[1:])


def _bad_greeting(line: str, expected: str, reference: str) -> ProbeError:
    return ProbeError(
        "bad-greeting",
        f"unexpected greeting {_clip(line)!r} (expected {expected}): another service on this "
        "port, or the server refuses clients",
        reference,
    )


def _cleartext_auth_findings(
    result: ServerProbe, mechanisms: Sequence[str], reference: str
) -> None:
    exposed = sorted(set(mechanisms) & CLEARTEXT_MECHANISMS)
    if exposed:
        result.add(
            "error",
            "auth-before-tls",
            f"password mechanism {', '.join(exposed)} offered before TLS: a client "
            "could send the password in clear",
            reference,
        )


def _offered_auth_findings(result: ServerProbe, offered: Sequence[str], reference: str) -> None:
    """The advertised authentication must be offered once TLS is up."""
    wanted = (
        CLEARTEXT_MECHANISMS | {"USER"}
        if result.server.authentication is Authentication.PASSWORD_CLEARTEXT
        else ENCRYPTED_MECHANISMS
    )
    usable = sorted(set(offered) & wanted)
    if usable:
        result.add(
            "info",
            "auth-offered",
            f"over TLS the server offers {', '.join(usable)} for the advertised "
            f"{result.server.authentication.value}",
        )
        return
    shown = ", ".join(sorted(set(offered))) or "nothing"
    result.add(
        "error",
        "auth-not-offered",
        f"over TLS the server offers {shown}, none usable for the advertised "
        f"{result.server.authentication.value} ({', '.join(sorted(wanted))})",
        reference,
    )


_DIALOGUES: dict[Protocol, Callable[[ServerProbe, _Session], None]] = {
    Protocol.IMAP: _imap,
    Protocol.POP3: _pop3,
    Protocol.SMTP: _smtp,
}


def _clip(text: str, limit: int = 120) -> str:
    printable = "".join(c if c.isprintable() else "?" for c in text)
    return printable if len(printable) <= limit else printable[: limit - 3] + "..."


# --- CalDAV / CardDAV ---------------------------------------------------------------------------


def _probe_dav(result: ServerProbe, addresses: Sequence[str], options: ProbeOptions) -> None:
    """OPTIONS then PROPFIND on the URL clients are given, following redirects on the
    same host (each hop with the same TLS checks); never an ``Authorization`` header."""

    def attempt(context: ssl.SSLContext, deadline: _Deadline) -> None:
        _dav_requests(result, result.server.url, addresses, context, deadline)

    _verified_then_not(result, attempt, options)


def _dav_requests(
    result: ServerProbe,
    url: str,
    addresses: Sequence[str],
    context: ssl.SSLContext,
    deadline: _Deadline,
) -> None:
    for _ in range(MAX_REDIRECTS + 1):
        status, headers = _http(result, "OPTIONS", url, addresses, context, deadline)
        location = headers.get("location", "")
        if status not in (301, 302, 303, 307, 308) or not location:
            break
        url = _redirect(result, url, status, urllib.parse.urljoin(url, location))
    else:
        raise ProbeError("dav-redirects", f"more than {MAX_REDIRECTS} redirects from {url}")
    result.dav = headers.get("dav", "")
    propfind, _ = _http(result, "PROPFIND", url, addresses, context, deadline)
    _dav_findings(result, url, status, propfind)


def _redirect(result: ServerProbe, url: str, status: int, target: str) -> str:
    """A redirect is followed on the same host only: the probe checks the server the
    records name; where that server sends clients next is reported, not probed."""
    parts = urllib.parse.urlsplit(target)
    if parts.scheme != "https" and result.server.security is not Security.PLAIN:
        raise ProbeError(
            "dav-redirect-insecure",
            f"{url} redirects to {_clip(target)}: off TLS, a client would send the password "
            "in clear",
            "RFC 6764 §8",
        )
    host = (parts.hostname or "").rstrip(".").lower()
    if host != result.server.host.rstrip(".").lower():
        raise ProbeError(
            "dav-redirect-offsite",
            f"{url} redirects to another host ({_clip(target)}); probe that host on its own",
        )
    result.add("info", "dav-redirect", f"{url} redirects ({status}) to {_clip(target)}")
    return target


def _dav_findings(result: ServerProbe, url: str, options: int, propfind: int) -> None:
    kind = result.server.protocol
    dav = result.dav
    classes = {c.strip().lower() for c in dav.split(",")}
    wanted, reference = (
        ("calendar-access", "RFC 4791 §5.1")
        if kind is Protocol.CALDAV
        else ("addressbook", "RFC 6352 §6.1")
    )
    name = "CalDAV" if kind is Protocol.CALDAV else "CardDAV"
    if propfind not in (207, 401):
        result.add(
            "error",
            "dav-not-dav",
            f"PROPFIND {url} answered {propfind}, not 207 Multi-Status or 401: this URL is "
            f"not a {name} server",
            "RFC 4918 §9.1",
        )
    if not dav and options != 401:  # a server may authenticate OPTIONS too
        result.add(
            "error",
            "dav-no-dav-header",
            f"OPTIONS {url} answered {options} without a DAV header: not a WebDAV server",
            "RFC 4918 §10.1",
        )
    elif dav and wanted not in classes:
        result.add(
            "error",
            "dav-no-class",
            f"the DAV header ({_clip(dav)}) lacks {wanted}: not a {name} server",
            reference,
        )
    elif propfind in (207, 401):
        shown = f" and DAV: {_clip(dav)}" if dav else ""
        result.add("info", "dav-ok", f"{url} answers PROPFIND with {propfind}{shown}")


def _http(
    result: ServerProbe,
    method: str,
    url: str,
    addresses: Sequence[str],
    context: ssl.SSLContext,
    deadline: _Deadline,
) -> tuple[int, dict[str, str]]:
    """One request on a fresh connection; status and headers (the body is read, bounded,
    and dropped). Never an ``Authorization`` header."""
    parts = urllib.parse.urlsplit(url)
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    sock = _connect(result, addresses, port, deadline)
    if tls:
        try:
            sock = _start_tls(result, sock, context, deadline)
        except BaseException:
            sock.close()
            raise
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Host": parts.netloc, "User-Agent": "mail-autoconf-probe", "Connection": "close"}
    if method == "PROPFIND":
        headers["Depth"] = "0"
    connection = _Connection(sock, parts.hostname or result.server.host, port, deadline)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        response.read(MAX_BYTES)
    except TimeoutError:
        raise ProbeError("timeout", f"no complete answer within {deadline.seconds:g} s") from None
    except (http.client.HTTPException, OSError) as exc:
        raise ProbeError("protocol-error", f"{method} {url}: {_reason(exc)}") from None
    finally:
        connection.close()
    result.http = (*result.http, f"{method} {url} -> {response.status}")
    return response.status, {k.lower(): v for k, v in response.getheaders()}


class _Connection(http.client.HTTPConnection):
    """http.client over a socket we connected (and wrapped in TLS) ourselves, so names are
    resolved through the configured nameservers and the certificate was checked by us.
    http.client bounds header lines (64 KiB) and header count (100) itself."""

    def __init__(self, sock: socket.socket, host: str, port: int, deadline: _Deadline) -> None:
        super().__init__(host, port, timeout=deadline.left())
        sock.settimeout(deadline.left())
        self.sock = sock

    def connect(self) -> None:
        """The socket is connected already."""


# --- output ---------------------------------------------------------------------------------------


def format_probes(probes: Sequence[ServerProbe]) -> str:
    """The text form: per server what was seen, then its findings (the same messages as
    the JSON form)."""
    now = datetime.datetime.now(datetime.UTC)
    lines: list[str] = []
    for probe in probes:
        s = probe.server
        at = f" at {_display(probe.address)}" if probe.address else ""
        lines.append(f"{s.protocol.value.upper()} {probe.where} ({s.security.value}){at}")
        if probe.greeting:
            lines.append(f"  greeting: {_clip(probe.greeting)}")
        if probe.before_tls:
            lines.append(f"  before TLS: {_clip(' '.join(probe.before_tls), 400)}")
        if probe.tls_version:
            cert = probe.certificate
            names = ", ".join(cert.names[:5]) if cert else "?"
            if cert and len(cert.names) > 5:
                names += f" and {len(cert.names) - 5} more"
            until = (
                f", until {cert.not_after:%Y-%m-%d} ({cert.days_left(now)} days)" if cert else ""
            )
            lines.append(f"  TLS: {probe.tls_version}, certificate for {names}{until}")
        if probe.capabilities:
            lines.append(f"  capabilities: {_clip(' '.join(probe.capabilities), 400)}")
        lines += [f"  {h}" for h in probe.http]
        if probe.dav:
            lines.append(f"  DAV: {_clip(probe.dav)}")
        for f in probe.findings:
            ref = f" [{f.reference}]" if f.reference else ""
            lines.append(f"  {f.severity:<7} {f.code}: {f.message}{ref}")
        lines.append("")
    return "\n".join(lines)


def probes_as_list(probes: Sequence[ServerProbe]) -> list[dict[str, Any]]:
    """The JSON form, one object per server."""
    now = datetime.datetime.now(datetime.UTC)
    return [probe.as_dict(now) for probe in probes]

"""Record sources backed by dnspython: live DNS and zone files.

This is the only module that imports dnspython. It turns answers and dnspython's
exceptions into :class:`~autoconf.model.RRset` values, keeping "absent" (NXDOMAIN, NODATA)
strictly apart from "temporarily failed" (SERVFAIL, REFUSED, timeout).
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import logging
import math
import random
import select
import socket
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.SRV
import dns.resolver
import dns.tokenizer
import dns.zone

from autoconf.config_keys import DNS
from autoconf.config_kinds import ZoneFile
from autoconf.errors import ConfigError
from autoconf.model import Question
from autoconf.model import RRset
from autoconf.model import SrvRecord
from autoconf.model import Status

log = logging.getLogger(__name__)

#: A negative answer without an SOA (a broken server) is remembered this long.
DEFAULT_NEGATIVE_TTL = 60
#: How many CNAMEs a zone-file lookup follows before giving up (loops).
MAX_CNAME_HOPS = 8
QueryObserver = Callable[[str, RRset, float], None]
"""Called after each live query with (rdtype, result, seconds); used for metrics."""


def _srv(rdata: dns.rdtypes.IN.SRV.SRV) -> SrvRecord:
    # The target as the attacker wrote it, in presentation form (RFC 1035 section 5.1):
    # dnspython escapes a "." inside a label as "\." and any octet outside printable ASCII
    # as "\DDD", so the text is safe to print and cannot pass for another name. Whether it
    # is a host name at all is the core's decision (autoconf.names): a record with, say,
    # "evil.org/.victim.test" is dropped there, with the reason shown by check and the page.
    target = rdata.target.to_text(omit_final_dot=True).lower()
    # dnspython renders the root name as "@" relative or "" absolute-without-dot.
    if rdata.target == dns.name.root:
        target = ""
    return SrvRecord(priority=rdata.priority, weight=rdata.weight, port=rdata.port, target=target)


def _txt(rdata: dns.rdtypes.ANY.TXT.TXT) -> str:
    return b"".join(rdata.strings).decode("utf-8", errors="replace")


def _rrset_from(
    name: str, rdtype: str, rdataset: dns.rdataset.Rdataset, *, authenticated: bool
) -> RRset:
    srv: tuple[SrvRecord, ...] = ()
    txt: tuple[str, ...] = ()
    rdata: tuple[str, ...] = ()
    if rdtype == "SRV":
        srv = tuple(_srv(r) for r in rdataset)
    elif rdtype == "TXT":
        txt = tuple(_txt(r) for r in rdataset)
    else:
        rdata = tuple(r.to_text() for r in rdataset)
    return RRset(
        name=name,
        rdtype=rdtype,
        status=Status.ANSWER,
        ttl=rdataset.ttl,
        srv=srv,
        txt=txt,
        rdata=rdata,
        authenticated=authenticated,
    )


def _negative_ttl(message: dns.message.Message | None) -> int:
    """RFC 2308 section 5: negative TTL = min(SOA TTL, SOA MINIMUM) from the authority."""
    if message is None:
        return DEFAULT_NEGATIVE_TTL
    for rrset in message.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            soa: dns.rdtypes.ANY.SOA.SOA = rrset[0]
            return min(rrset.ttl, soa.minimum)
    return DEFAULT_NEGATIVE_TTL


class LiveSource:
    """Ask real DNS servers, all questions of one lookup at once.

    A cold lookup asks up to fourteen questions; issued one after another they would cost
    fourteen round trips, issued together about one. They go out as datagrams on one
    socket from the asking thread (:class:`_Lookup`): no thread per question, no resolver
    machinery per question: what CPU a lookup costs is building and parsing messages.
    """

    def __init__(
        self,
        *,
        nameservers: Sequence[tuple[str, int]] = (),
        timeout: float = DNS["timeout"].value,
        dnssec: bool = False,
        observer: QueryObserver | None = None,
    ) -> None:
        self._nameservers = tuple(nameservers) or _system_nameservers()
        self._timeout = timeout
        self._dnssec = dnssec
        self._observer = observer
        self._lock = threading.Lock()
        self.queries_sent = 0

    @property
    def nameservers(self) -> tuple[tuple[str, int], ...]:
        """The servers asked: the configured ones, else those of /etc/resolv.conf."""
        return self._nameservers

    def ask(self, questions: Sequence[Question]) -> dict[Question, RRset]:
        """Answer all questions at once within one timeout; DNS conditions become
        ``Status`` values."""
        with self._lock:
            self.queries_sent += len(questions)
        lookup = _Lookup(self._nameservers, timeout=self._timeout, dnssec=self._dnssec)
        outcomes = lookup.run(questions)
        if self._observer is not None:
            for question, (result, seconds) in outcomes.items():
                self._observer(question[1], result, seconds)
        return {question: outcomes[question][0] for question in questions}


def _system_nameservers() -> tuple[tuple[str, int], ...]:
    """The host's resolvers (/etc/resolv.conf), read once: no servers configured."""
    resolver = dns.resolver.Resolver()
    return tuple((str(ns), resolver.port) for ns in resolver.nameservers)


@dataclass(slots=True, kw_only=True)
class _Pending:
    """One question in flight: its query message and which server was asked last."""

    question: Question
    query: dns.message.Message
    wire: bytes
    started: float
    server: int = 0
    sent_at: float = 0.0


class _Lookup:
    """One lookup: every question as a datagram on one socket per address family, the
    replies matched to their questions by message id (RFC 1035 section 4.1.1) and sender.

    Ids are drawn at random and unique within the lookup (RFC 5452 section 9.2), and a
    reply only counts when its question section matches. A server that says nothing for
    its share of the timeout, or answers SERVFAIL or REFUSED, hands the question on to the
    next server; when none is left the question FAILED. The timeout bounds the whole
    lookup, including TCP retries of truncated answers.
    """

    def __init__(
        self, servers: tuple[tuple[str, int], ...], *, timeout: float, dnssec: bool
    ) -> None:
        self._servers = servers
        self._addresses = [(ipaddress.ip_address(a), port) for a, port in servers]
        self._timeout = timeout
        self._share = timeout / len(servers)
        self._deadline = time.monotonic() + timeout
        self._dnssec = dnssec
        self._sockets: dict[int, socket.socket] = {}
        self._by_fd: dict[int, socket.socket] = {}
        self._pending: dict[int, _Pending] = {}
        self._truncated: list[_Pending] = []
        self._done: dict[Question, tuple[RRset, float]] = {}

    def run(self, questions: Sequence[Question]) -> dict[Question, tuple[RRset, float]]:
        """Each question's result and how long it took."""
        try:
            for pending in self._queries(questions):
                self._send(pending)
            while self._pending and self._wait():
                pass
            for pending in self._truncated:
                self._over_tcp(pending)
        finally:
            for sock in self._sockets.values():
                sock.close()
        error = f"timeout: no answer within {self._timeout:g} s"
        for pending in list(self._pending.values()):
            self._finish(pending, _failed(pending.question, error))
        return self._done

    def _queries(self, questions: Sequence[Question]) -> list[_Pending]:
        ids = _RANDOM.sample(range(65536), len(questions))
        now = time.monotonic()
        made = []
        for query_id, (name, rdtype) in zip(ids, questions, strict=True):
            # Without DNSSEC no EDNS, as dnspython's resolver; with it the DO bit makes a
            # validating resolver set AD on secure answers (RFC 3655, RFC 6840 section 5.7).
            query = dns.message.make_query(name, rdtype)
            if self._dnssec:
                query.use_edns(0, dns.flags.DO, 1232)
            query.id = query_id
            wire = query.to_wire()
            made.append(_Pending(question=(name, rdtype), query=query, wire=wire, started=now))
            self._pending[query_id] = made[-1]
        return made

    def _send(self, pending: _Pending) -> None:
        address, port = self._servers[pending.server]
        pending.sent_at = time.monotonic()
        try:
            self._socket(address).sendto(pending.wire, (address, port))
        except OSError as exc:
            self._next_server(pending, f"{address}: {_short(exc)}")

    def _socket(self, address: str) -> socket.socket:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = self._sockets.get(family)
        if sock is None:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            self._sockets[family] = sock
            self._by_fd[sock.fileno()] = sock
        return sock

    def _wait(self) -> bool:
        """Read what has arrived, waiting until the next server hand-over at most; False
        once the deadline has passed."""
        now = time.monotonic()
        if now >= self._deadline:
            return False
        due = min(self._due(p) for p in self._pending.values())
        # poll, not select: a busy worker's descriptors may lie beyond select's 1024.
        poller = select.poll()
        for sock in self._sockets.values():
            poller.register(sock, select.POLLIN)
        wait_ms = max(0.0, min(due, self._deadline) - now) * 1000
        for fd, _ in poller.poll(math.ceil(wait_ms)):
            self._drain(self._by_fd[fd])
        self._hand_over(time.monotonic())
        return True

    def _drain(self, sock: socket.socket) -> None:
        while True:
            try:
                data, sender = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error for one datagram; the others still count
            self._on_datagram(data, sender)

    def _due(self, pending: _Pending) -> float:
        """When ``pending`` is next handed over: after its server's share of the timeout,
        or never (the deadline) once it sits at the last server. Without that second case
        a question handed early to the last server (the first answered SERVFAIL) had its
        hand-over time in the past, and the loop polled with timeout 0 until the deadline."""
        if pending.server + 1 < len(self._servers):
            return pending.sent_at + self._share
        return self._deadline

    def _hand_over(self, now: float) -> None:
        """Questions a server left unanswered for its share of the timeout go to the next."""
        for pending in list(self._pending.values()):
            if pending.server + 1 < len(self._servers) and now >= self._due(pending):
                pending.server += 1
                self._send(pending)

    def _on_datagram(self, data: bytes, sender: tuple[str, int]) -> None:
        try:
            reply = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return  # garbled or not DNS: not an answer to anything, keep waiting
        pending = self._pending.get(reply.id)
        if pending is None or not self._asked(pending, sender):
            return
        if not pending.query.is_response(reply):
            return  # right id, wrong question: a stray or spoofed reply
        if reply.flags & dns.flags.TC:
            # RFC 7766 section 5: a truncated answer is asked again over TCP.
            del self._pending[pending.query.id]
            self._truncated.append(pending)
            return
        self._judge(pending, reply, f"{sender[0]}")

    def _asked(self, pending: _Pending, sender: tuple[str, int]) -> bool:
        source = (ipaddress.ip_address(sender[0].partition("%")[0]), sender[1])
        return source in self._addresses[: pending.server + 1]

    def _judge(self, pending: _Pending, reply: dns.message.Message, server: str) -> None:
        rcode = reply.rcode()
        if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            self._finish(pending, _result(pending.question, reply, dnssec=self._dnssec))
        else:
            # SERVFAIL, REFUSED and the like: no answer, never an absent record.
            self._next_server(pending, f"{server} answered {dns.rcode.to_text(rcode)}")

    def _next_server(self, pending: _Pending, error: str) -> None:
        if pending.server + 1 < len(self._servers):
            pending.server += 1
            self._send(pending)
        else:
            self._finish(pending, _failed(pending.question, error))

    def _over_tcp(self, pending: _Pending) -> None:
        address, port = self._servers[pending.server]
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            self._finish(pending, _failed(pending.question, "timeout: before the TCP retry"))
            return
        try:
            reply = dns.query.tcp(pending.query, address, timeout=remaining, port=port)
        except (dns.exception.DNSException, OSError) as exc:
            self._finish(pending, _failed(pending.question, f"{address} over TCP: {_short(exc)}"))
            return
        # No server rotation here: the budget is nearly spent by the time TCP is needed.
        pending.server = len(self._servers) - 1
        self._judge(pending, reply, address)

    def _finish(self, pending: _Pending, result: RRset) -> None:
        self._pending.pop(pending.query.id, None)
        self._done[pending.question] = (result, time.monotonic() - pending.started)


#: Message ids must be unpredictable (RFC 5452 section 9.2).
_RANDOM = random.SystemRandom()


def _failed(question: Question, error: str) -> RRset:
    name, rdtype = question
    return RRset(name=name, rdtype=rdtype, status=Status.FAILED, error=error)


def _result(question: Question, reply: dns.message.Message, *, dnssec: bool) -> RRset:
    """NOERROR or NXDOMAIN: the RRset (CNAMEs in the answer followed), or the negative
    answer with its RFC 2308 TTL."""
    name, rdtype = question
    if reply.rcode() == dns.rcode.NXDOMAIN:
        return RRset(name=name, rdtype=rdtype, status=Status.NXDOMAIN, ttl=_negative_ttl(reply))
    authenticated = dnssec and bool(reply.flags & dns.flags.AD)
    if not isinstance(reply, dns.message.QueryMessage):
        return _failed(question, "not a query response")
    try:
        answer = reply.resolve_chaining().answer
    except dns.exception.DNSException as exc:
        return _failed(question, _short(exc))
    if answer is None:
        ttl = _negative_ttl(reply)
        return RRset(
            name=name, rdtype=rdtype, status=Status.NODATA, ttl=ttl, authenticated=authenticated
        )
    return _rrset_from(name, rdtype, answer, authenticated=authenticated)


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


class ZoneSource:
    """Answer from zone files, so the zone an admin loads into DNS drives the service.

    Zone-file data is local and cannot be spoofed on the wire, so its answers count as
    authenticated for the ``dnssec`` trust setting.
    """

    def __init__(self, files: Sequence[ZoneFile | Path]) -> None:
        self._zones: list[dns.zone.Zone] = []
        loaded: dict[dns.name.Name, Path] = {}
        for entry in files:
            zone_file = entry if isinstance(entry, ZoneFile) else ZoneFile(entry)
            zone = load_zone(zone_file)
            origin = zone.origin or dns.name.root
            if origin in loaded:
                raise ConfigError(
                    f"dns.zone_files: {loaded[origin]} and {zone_file.path} are both the zone "
                    f"{origin.to_text(omit_final_dot=True)}"
                )
            loaded[origin] = zone_file.path
            self._zones.append(zone)
        self.queries_sent = 0

    @property
    def origins(self) -> tuple[str, ...]:
        return tuple(str(zone.origin) for zone in self._zones)

    def ask(self, questions: Sequence[Question]) -> dict[Question, RRset]:
        """Look every question up in the loaded zones."""
        self.queries_sent += len(questions)
        return {q: self._lookup(*q) for q in questions}

    def _lookup(self, name: str, rdtype: str, hops: int = 0) -> RRset:
        qname = dns.name.from_text(name)
        zone = self._zone_for(qname)
        if zone is None:
            return RRset(name=name, rdtype=rdtype, status=Status.NXDOMAIN, ttl=DEFAULT_NEGATIVE_TTL)
        negative = self._zone_negative_ttl(zone)
        node = zone.get_node(qname)
        if node is None:
            status = Status.NODATA if _has_descendants(zone, qname) else Status.NXDOMAIN
            return RRset(name=name, rdtype=rdtype, status=status, ttl=negative)
        wanted = dns.rdatatype.from_text(rdtype)
        rdataset = node.get_rdataset(dns.rdataclass.IN, wanted)
        if rdataset is None and wanted != dns.rdatatype.CNAME:
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is not None and hops < MAX_CNAME_HOPS:
                target = cname[0].target.to_text()
                found = self._lookup(target, rdtype, hops + 1)
                return RRset(
                    name=name,
                    rdtype=rdtype,
                    status=found.status,
                    ttl=found.ttl,
                    srv=found.srv,
                    txt=found.txt,
                    rdata=found.rdata,
                    authenticated=True,
                )
        if rdataset is None:
            return RRset(name=name, rdtype=rdtype, status=Status.NODATA, ttl=negative)
        return _rrset_from(name, rdtype, rdataset, authenticated=True)

    def _zone_for(self, qname: dns.name.Name) -> dns.zone.Zone | None:
        matches = [z for z in self._zones if z.origin is not None and qname.is_subdomain(z.origin)]
        return max(matches, key=lambda z: len(z.origin or dns.name.root), default=None)

    @staticmethod
    def _zone_negative_ttl(zone: dns.zone.Zone) -> int:
        soa = zone.get_rdataset(zone.origin or dns.name.root, dns.rdatatype.SOA)
        if soa is None:
            return DEFAULT_NEGATIVE_TTL
        minimum: int = soa[0].minimum
        return min(soa.ttl, minimum)


def _has_descendants(zone: dns.zone.Zone, qname: dns.name.Name) -> bool:
    # An empty non-terminal (e.g. "_tcp.example.com") exists: NODATA, not NXDOMAIN.
    return any(n != qname and n.is_subdomain(qname) for n in zone.nodes)


# --- Reading zone files -------------------------------------------------------------------
#
# The origin comes from the file, as for any zone file read without a server's zone
# statement (RFC 1035 section 5.1): the owner of its first record, the SOA, as written
# absolutely or completed by a $ORIGIN above it. That covers Debian's "$ORIGIN example.org."
# + "@ SOA", an absolute "example.org. SOA", and BIND's dumps ("$ORIGIN ." + "example.org
# SOA"). A file that states neither ("@ SOA" alone, its origin living in named.conf) is
# ambiguous: the configuration names the origin. $INCLUDE is refused (_directive_problem).

#: The directives accepted in a zone file (RFC 1035 section 5.1, BIND's $GENERATE).
_DIRECTIVES = ("$ORIGIN", "$TTL", "$GENERATE")
#: The file name dnspython puts in front of its syntax errors ("<name>:<line>: ...").
_TOKENIZER_NAME = "zone"
_SOA = dns.rdatatype.SOA


def load_zone(zone_file: ZoneFile) -> dns.zone.Zone:
    """Read and check one zone file: it parses, and has an SOA and NS records at its origin.

    :raises ConfigError: ``dns.zone_files: <path>[ line <n>]: <problem>``, one line, for a
        file that cannot be read, does not parse, or does not tell its origin.
    """
    path = zone_file.path
    text = _read_text(path)
    if zone_file.origin:
        origin = dns.name.from_text(zone_file.origin)
        zone = _parse(path, text, origin)
        if zone.get_rdataset(origin, _SOA) is None:
            stated = ""
            with contextlib.suppress(ConfigError):
                stated = f"; the file says {_show(_stated_origin(path, text)[0])}"
            problem = f"no SOA record at {_show(origin)}, the configured origin{stated}"
            raise _zone_error(path, problem)
    else:
        origin, line = _stated_origin(path, text)
        zone = _parse(path, text, origin)
        if zone.get_rdataset(origin, _SOA) is None:
            problem = "the first record is not the SOA (a zone file starts with its SOA record)"
            raise _zone_error(path, problem, line)
    if zone.get_rdataset(origin, dns.rdatatype.NS) is None:
        raise _zone_error(path, f"no NS records at the origin {_show(origin)}")
    return zone


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _zone_error(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _zone_error(path, "not UTF-8 text", line) from None


def _stated_origin(path: Path, text: str) -> tuple[dns.name.Name, int]:
    """The owner of the file's first record, absolute (as written or through $ORIGIN), and
    its line; dnspython's tokenizer reads up to that owner and no further."""
    reading = _Reading(text)
    tok = dns.tokenizer.Tokenizer(reading, _TOKENIZER_NAME)
    current: dns.name.Name | None = None
    try:
        while True:
            token = tok.get(want_leading=True)
            if token.is_eof():
                raise _zone_error(path, "no records")
            if token.is_eol():
                continue
            directive = token.value.upper() if token.is_identifier() else ""
            if token.is_whitespace():  # no owner: the current origin (RFC 1035 5.1)
                if tok.get().is_eol_or_eof():
                    continue
                owner, written = current, "(none)"
            elif directive == "$ORIGIN":
                current = tok.get_name(current)
                tok.get_eol()
                continue
            elif directive == "$TTL":
                tok.get_remaining()
                continue
            elif directive.startswith("$"):
                raise _zone_error(path, _directive_problem(directive), reading.line)
            else:
                owner, written = tok.as_name(token, current), token.value
            break
    except dns.exception.DNSException as exc:
        raise _zone_error(path, _without_position(exc), reading.line) from None
    # The root or a single label: "@" or "mail" with no $ORIGIN, not a mail domain's zone.
    if owner is None or not owner.is_absolute() or len(owner) < 3:
        raise _zone_error(
            path,
            f"the file does not state its origin (first owner {written!r}, no $ORIGIN "
            "above it): add '$ORIGIN example.org.' at the top, or configure "
            f'{{ file = "{path.name}", origin = "example.org" }}',
            reading.line,
        )
    return owner, reading.line


def _parse(path: Path, text: str, origin: dns.name.Name) -> dns.zone.Zone:
    reading = _Reading(text)
    try:
        return dns.zone.from_file(
            reading,
            origin=origin,
            relativize=False,
            filename=_TOKENIZER_NAME,
            allow_directives=_DIRECTIVES,
            check_origin=False,
        )
    except dns.exception.DNSException as exc:
        problem = _without_position(exc)
        if "'$" in problem and "is not allowed" in problem:
            problem = _directive_problem(problem.split("'")[1])
        raise _zone_error(path, problem, reading.line) from None
    except ValueError as exc:
        # dnspython's transaction refuses an SOA whose owner is not the zone's origin.
        problem = str(exc)
        if "non-origin SOA" in problem:
            problem = f"an SOA record outside the origin {_show(origin)}"
        raise _zone_error(path, problem, reading.line) from None


def _directive_problem(directive: str) -> str:
    if directive == "$INCLUDE":
        # Refused: dnspython opens it relative to the process's working directory, and
        # only the files dns.zone_files lists are read.
        return "$INCLUDE is not supported: put the included records into the file itself"
    if directive in _DIRECTIVES:
        return f"{directive} before the SOA record"
    return f"unknown directive {directive} (allowed: {', '.join(_DIRECTIVES)})"


def _show(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True)


class _Reading(io.StringIO):
    """Zone text for dnspython's tokenizer, which reads it a character at a time.

    It remembers the line of the last character that is not white space: the line a parse
    error belongs to. dnspython's own count has already moved to the next line when the
    offending token was the last of its line, and its checks outside the tokenizer (a
    CNAME beside other data) carry no line at all.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._line = 1
        self._previous = ""
        #: Line (1-based) of the last non-white-space character read.
        self.line = 1

    def read(self, size: int | None = -1) -> str:
        chunk = super().read(size)
        for char in chunk:
            if char == "\r" or (char == "\n" and self._previous != "\r"):
                self._line += 1  # CR, LF and CRLF end a line, as in dnspython's tokenizer
            elif not char.isspace():
                self.line = self._line
            self._previous = char
        return chunk


def _without_position(exc: Exception) -> str:
    """dnspython's message without its "<file>:<line>: " prefix (the line is ours)."""
    text = str(exc) or type(exc).__name__
    prefix, _, rest = text.partition(": ")
    name, _, line = prefix.rpartition(":")
    return rest if name == _TOKENIZER_NAME and line.isdigit() else text


def _zone_error(path: Path, problem: str, line: int | None = None) -> ConfigError:
    where = f"{path} line {line}" if line is not None else f"{path}"
    return ConfigError(f"dns.zone_files: {where}: {problem}")

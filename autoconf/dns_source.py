"""Record sources backed by dnspython: live DNS and zone files.

This is the only module that imports dnspython. It turns answers and dnspython's
exceptions into :class:`~autoconf.model.RRset` values, keeping "absent" (NXDOMAIN, NODATA)
strictly apart from "temporarily failed" (SERVFAIL, REFUSED, timeout).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.nameserver
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.SRV
import dns.resolver
import dns.zone

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
#: Threads per process asking DNS. A lookup asks up to fourteen questions at once and a
#: gunicorn worker runs several requests at once (gthread, 4 threads by default): 64 lets
#: four cold lookups run side by side instead of queueing behind each other.
DNS_THREADS = 64
#: How long past the DNS timeout a lookup waits for questions still queued in the pool.
QUEUE_GRACE = 0.25

QueryObserver = Callable[[str, RRset, float], None]
"""Called after each live query with (rdtype, result, seconds); used for metrics."""


def _srv(rdata: dns.rdtypes.IN.SRV.SRV) -> SrvRecord:
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
    """Ask real DNS servers, all questions of one lookup concurrently.

    A cold lookup asks up to fourteen questions; issued one after another they would cost
    fourteen round trips, issued together about one.
    """

    def __init__(
        self,
        *,
        nameservers: Sequence[tuple[str, int]] = (),
        timeout: float = 2.0,
        dnssec: bool = False,
        observer: QueryObserver | None = None,
    ) -> None:
        self._nameservers = tuple(nameservers)
        self._timeout = timeout
        self._dnssec = dnssec
        self._observer = observer
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._lock = threading.Lock()
        self._resolver = self._make_resolver()
        self.queries_sent = 0

    def _make_resolver(self) -> dns.resolver.Resolver:
        if self._nameservers:
            # configure=False: never read the host's /etc/resolv.conf behind the admin's back.
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [
                dns.nameserver.Do53Nameserver(address, port) for address, port in self._nameservers
            ]
        else:
            resolver = dns.resolver.Resolver()
        # One budget for the whole question: dnspython's "lifetime" bounds all tries.
        resolver.timeout = self._timeout
        resolver.lifetime = self._timeout
        if self._dnssec:
            # Ask for DNSSEC (DO) so a validating resolver sets AD on secure answers
            # (RFC 3655, RFC 6840 section 5.7).
            resolver.use_edns(0, dns.flags.DO, 1232)
        return resolver

    def _executor(self) -> ThreadPoolExecutor:
        # Threads do not survive fork(): a pool made in gunicorn's master would be dead in
        # the workers, so each process makes its own on first use.
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(max_workers=DNS_THREADS, thread_name_prefix="dns")
                self._pool_pid = os.getpid()
            return self._pool

    def ask(self, questions: Sequence[Question]) -> dict[Question, RRset]:
        """Answer all questions concurrently; DNS conditions become ``Status`` values."""
        if len(questions) == 1:
            return {questions[0]: self._ask_one(questions[0])}
        futures = {q: self._executor().submit(self._ask_one, q) for q in questions}
        # One budget per lookup, however busy the pool: with a black-holed resolver and
        # more questions in flight than threads, queued questions would otherwise wait
        # for whole timeouts of other requests' questions (measured with 16 threads: the
        # 4th of 4 concurrent lookups took 4.4 s for a 1 s timeout).
        wait(futures.values(), timeout=self._timeout + QUEUE_GRACE)
        return {q: self._collect(q, future) for q, future in futures.items()}

    @staticmethod
    def _collect(question: Question, future: Future[RRset]) -> RRset:
        """The answer, or FAILED when the budget ran out first (a question that has not
        started is cancelled; one that has ends within its own lifetime)."""
        if future.done():
            return future.result()
        future.cancel()
        name, rdtype = question
        return RRset(name=name, rdtype=rdtype, status=Status.FAILED, error="timeout: DNS budget")

    def _ask_one(self, question: Question) -> RRset:
        name, rdtype = question
        started = time.perf_counter()
        with self._lock:
            self.queries_sent += 1
        result = self._resolve(name, rdtype)
        if self._observer is not None:
            self._observer(rdtype, result, time.perf_counter() - started)
        return result

    def _resolve(self, name: str, rdtype: str) -> RRset:
        try:
            answer = self._resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN as exc:
            responses = exc.responses()  # type: ignore[no-untyped-call]
            message = next(iter(responses.values()), None) if responses else None
            return RRset(
                name=name, rdtype=rdtype, status=Status.NXDOMAIN, ttl=_negative_ttl(message)
            )
        except dns.resolver.NoNameservers as exc:
            # SERVFAIL or REFUSED from every server: no answer, not an absent record.
            return RRset(name=name, rdtype=rdtype, status=Status.FAILED, error=_short(exc))
        except dns.exception.Timeout as exc:
            return RRset(
                name=name, rdtype=rdtype, status=Status.FAILED, error=f"timeout: {_short(exc)}"
            )
        except dns.exception.DNSException as exc:
            return RRset(name=name, rdtype=rdtype, status=Status.FAILED, error=_short(exc))
        authenticated = self._dnssec and bool(answer.response.flags & dns.flags.AD)
        if answer.rrset is None:
            return RRset(
                name=name,
                rdtype=rdtype,
                status=Status.NODATA,
                ttl=_negative_ttl(answer.response),
                authenticated=authenticated,
            )
        return _rrset_from(name, rdtype, answer.rrset, authenticated=authenticated)


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


class ZoneSource:
    """Answer from zone files, so the zone an admin loads into DNS drives the service.

    Zone-file data is local and cannot be spoofed on the wire, so its answers count as
    authenticated for the ``dnssec`` trust setting.
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        self._zones = [_load_zone(path) for path in paths]
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


def _load_zone(path: Path) -> dns.zone.Zone:
    origin = path.name.removesuffix(".zone").removesuffix(".db")
    try:
        return dns.zone.from_file(str(path), origin=origin, relativize=False)
    except (OSError, dns.exception.DNSException) as exc:
        raise ConfigError(f"dns.zone_files: cannot load {path}: {exc}") from exc

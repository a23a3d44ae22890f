"""Per-worker cache of derived providers, one entry per served primary domain.

Pure module (no Flask, no dnspython): it is handed a loader and a clock, so the rules below
are unit-tested with a fake clock and used unchanged over live DNS. The rules follow RFC 2308
(negative caching) and RFC 8767 (serving stale data):

- a provider lives for the TTL it was derived with, clamped to ``[floor, cap]``;
- a provider without usable servers is a negative answer (RFC 2308 section 5): it lives for
  its SOA-derived TTL, clamped to ``[floor, negative_cap]``;
- a failed lookup (SERVFAIL, timeout) is never a negative answer; it is only remembered for
  ``failure_ttl`` seconds so an outage is not hammered (RFC 2308 section 7.1);
- when a refresh fails, the last good provider is served for up to ``stale_if_error``
  seconds past its expiry (RFC 8767 "serve-stale"), logged and counted;
- one refresh per domain at a time (single-flight): concurrent callers wait for it, or get
  the expired provider at once when there is one (stale-while-revalidate);
- refresh ahead (like unbound's ``prefetch``): a request that finds a provider in the last
  ``refresh_ahead`` fraction of its lifetime gets it at once and starts one refresh in the
  background, so a domain that is asked for keeps being answered without waiting for DNS;
  a failed background refresh keeps the provider (stale-if-error as above);
- providers seeded from the on-disk snapshot (:meth:`ProviderCache.seed`) that expire
  before DNS confirmed them, and expired providers whose last refresh failed, are served at
  once (stale) while one background refresh runs (at most one per ``failure_ttl``): a
  restart during a DNS outage keeps answering, and during an outage only the first request
  per domain waits for DNS (RFC 8767 section 5);
- at most ``max_entries`` domains, least recently used evicted first.

Every successful load gets a new ``version``; documents rendered from a provider are keyed
on it (:class:`DocumentCache`), so a DNS change reaches the rendered bytes with the TTL.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Hashable
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

from autoconf.config_keys import CACHE
from autoconf.errors import DnsUnavailableError
from autoconf.model import Provider

log = logging.getLogger(__name__)
T = TypeVar("T")

Clock = Callable[[], float]
Loader = Callable[[str], Provider]
Observer = Callable[[str], None]
"""Told each event: "hit", "miss", "stale" (an expired provider served) or "failure" (a
load failed), and the warm-keeping events in :data:`WARM_EVENTS`; for a metrics layer.
Called under the cache lock: keep it quick."""

Fallback = Callable[[str], bool]

#: RFC 8767 section 4: a stale answer is handed out with a TTL of 30 seconds.
STALE_MAX_AGE = 30
#: Events that are not the outcome of a request: "refresh_ahead" (a background refresh was
#: started before expiry), "stale_from_snapshot" (a request got a provider seeded from the
#: snapshot past its expiry; also told as "stale").
WARM_EVENTS = frozenset({"refresh_ahead", "stale_from_snapshot"})
#: Background refresh threads per cache, and how many refreshes may wait for them; when
#: the queue is full a refresh is simply not started (the next request tries again).
REFRESH_THREADS = 4
REFRESH_QUEUE = 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class CachePolicy:
    """The ``[cache]`` settings; all durations in seconds. Each default, its bounds and its
    meaning are those of the key in :data:`autoconf.config_keys.CACHE`."""

    enabled: bool = CACHE["enabled"].value
    floor: int = CACHE["floor"].value
    cap: int = CACHE["cap"].value
    negative_cap: int = CACHE["negative_cap"].value
    failure_ttl: int = CACHE["failure_ttl"].value
    stale_if_error: int = CACHE["stale_if_error"].value
    max_entries: int = CACHE["max_entries"].value
    max_documents: int = CACHE["max_documents"].value
    refresh_ahead: float = CACHE["refresh_ahead"].value
    refresh_rate: int = CACHE["refresh_rate"].value

    def lifetime(self, provider: Provider) -> int:
        """How long ``provider`` may be served without asking DNS again."""
        bound = self.cap if provider.usable else min(self.cap, self.negative_cap)
        return min(max(provider.ttl, self.floor), bound)

    def refresh_point(self, provider: Provider, expires_at: float, lifetime: int) -> float:
        """When an entry of ``provider`` living ``lifetime`` seconds until ``expires_at``
        is refreshed ahead: never (at expiry) with ``refresh_ahead = 0``, and never for a
        negative answer (no servers at all): nobody is served from it, so it just lives
        its RFC 2308 lifetime, and a stranger's name asked now and then is not kept hot."""
        if not provider.servers:
            return expires_at
        return expires_at - self.refresh_ahead * lifetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Served:
    """What one caller gets: the provider, its version and how long it may be kept."""

    provider: Provider
    #: Changes whenever the provider was derived anew; keys rendered documents.
    version: int
    #: Seconds a downstream cache may keep the answer (``Cache-Control: max-age``).
    max_age: int
    #: True when the provider is past its lifetime (refresh failed or in progress).
    stale: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Freshness:
    """How one cached provider stands (for the keeper that refreshes listed domains)."""

    #: Seconds until expiry (negative once expired).
    left: float
    lifetime: int
    #: Seconds until a failed load may be retried (0 when none failed lately).
    retry_in: float
    #: A load of this domain is running.
    in_flight: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Exported:
    """One provider as the snapshot writer takes it: with its age, not a clock reading."""

    domain: str
    provider: Provider
    #: Seconds since the provider was loaded (from DNS, here or by whoever wrote it).
    age: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheStats:
    """Counters since start, for a metrics layer."""

    entries: int
    hits: int
    misses: int
    loads: int
    stale_serves: int
    revalidation_serves: int
    refresh_failures: int
    evictions: int
    refresh_aheads: int = 0
    seeded: int = 0


class _Flight:
    """One refresh in progress; waiters block on ``done``."""

    __slots__ = ("done", "error", "served")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.served: Served | None = None
        self.error: BaseException | None = None


class _Slot:
    """What is known about one domain. Guarded by the cache lock.

    Kept small (one per cached domain): the rarely set failure and flight state live in
    :class:`_Trouble`, allocated only while there is some.
    """

    __slots__ = ("expires_at", "provider", "refresh_at", "seeded", "trouble", "version")

    def __init__(self) -> None:
        self.provider: Provider | None = None
        self.version = 0
        self.expires_at = 0.0
        #: From this moment a request starts a background refresh (refresh-ahead).
        self.refresh_at = 0.0
        #: The provider came from the snapshot and no load of this process confirmed it.
        self.seeded = False
        self.trouble: _Trouble | None = None


class _Trouble:
    """A refresh in flight and/or a recent failure of one domain."""

    __slots__ = ("error", "flight", "kind", "retry_at")

    def __init__(self) -> None:
        #: After a failed load, no new load before this moment.
        self.retry_at = 0.0
        self.error = ""
        #: The failure's class, raised again for callers within ``retry_at`` (a
        #: :class:`~autoconf.errors.DecisionBudgetError` stays one).
        self.kind: type[DnsUnavailableError] = DnsUnavailableError
        self.flight: _Flight | None = None


class _Refresher:
    """A few daemon threads running background refreshes from a bounded queue.

    Started on first use in the process that uses it (a gunicorn worker, never the master
    that forked it), so no thread is ever copied across ``fork()``.
    """

    def __init__(self, threads: int = REFRESH_THREADS, capacity: int = REFRESH_QUEUE) -> None:
        self._threads = threads
        self._capacity = capacity
        self._pid = 0
        self._jobs: list[Callable[[], object]] = []
        self._busy = 0
        self._ready = threading.Condition(threading.Lock())

    def submit(self, job: Callable[[], object]) -> bool:
        """Queue ``job``; False (and nothing queued) when the queue is full."""
        with self._ready:
            if self._pid != os.getpid():
                self._start()
            if len(self._jobs) >= self._capacity:
                return False
            self._jobs.append(job)
            self._ready.notify_all()
            return True

    def settle(self, timeout: float) -> bool:
        """Wait until no job is queued or running; False when ``timeout`` ran out first."""
        with self._ready:
            return self._ready.wait_for(lambda: not self._jobs and not self._busy, timeout)

    def _start(self) -> None:
        self._pid = os.getpid()
        self._jobs, self._busy = [], 0
        for n in range(self._threads):
            name = f"autoconf-refresh-{n}"
            threading.Thread(target=self._run, name=name, daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: bool(self._jobs))
                job = self._jobs.pop(0)
                self._busy += 1
            try:
                job()
            except Exception:
                log.exception("background refresh failed")
            finally:
                with self._ready:
                    self._busy -= 1
                    self._ready.notify_all()


class ProviderCache:
    """Thread-safe cache of ``load(domain)`` results (see the module docstring)."""

    def __init__(
        self,
        policy: CachePolicy,
        load: Loader,
        *,
        clock: Clock = time.monotonic,
        observer: Observer | None = None,
        versions: Iterator[int] | None = None,
    ) -> None:
        """``versions`` numbers the loads; caches whose documents share one
        :class:`DocumentCache` must share it too, so their versions never collide."""
        self.policy = policy
        self._load = load
        self._clock = clock
        self._observe = observer or _ignore
        self._lock = threading.Lock()
        self._slots: OrderedDict[str, _Slot] = OrderedDict()
        self._versions = versions or itertools.count(1)
        self._refresher = _Refresher()
        #: Asked on a miss of a domain never loaded here, before DNS: it may seed the
        #: domain (the snapshot entries a worker has not derived yet) and says whether it
        #: did. Set by the keeper while it has such entries.
        self.fallback: Fallback | None = None
        self.hits = 0
        self.misses = 0
        self.loads = 0
        self.stale_serves = 0
        self.revalidation_serves = 0
        self.refresh_failures = 0
        self.evictions = 0
        self.refresh_aheads = 0
        self.seeded = 0

    def __len__(self) -> int:
        return len(self._slots)

    def stats(self) -> CacheStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return CacheStats(
                entries=len(self._slots),
                hits=self.hits,
                misses=self.misses,
                loads=self.loads,
                stale_serves=self.stale_serves,
                revalidation_serves=self.revalidation_serves,
                refresh_failures=self.refresh_failures,
                evictions=self.evictions,
                refresh_aheads=self.refresh_aheads,
                seeded=self.seeded,
            )

    def peek(self, domain: str) -> str:
        """How ``domain`` stands in this worker's cache, for people (the diagnostics page).

        Read-only: no counter moves, no LRU reordering, no load.
        """
        now = self._clock()
        with self._lock:
            slot = self._slots.get(domain)
            if slot is None or slot.provider is None:
                return "not cached in this worker"
            origin = " (from the snapshot)" if slot.seeded else ""
            left = slot.expires_at - now
            if left > 0:
                return f"fresh in this worker{origin}, {int(left)} s left"
            if self._within_stale_window(slot, now):
                return (
                    f"stale in this worker{origin} for {int(-left)} s (refresh pending or failing)"
                )
            return "expired in this worker"

    def servable(self, counts: Callable[[Provider], bool] | None = None) -> bool:
        """Whether this worker holds settings for some domain that it would answer with
        now: fresh, or expired but within ``stale_if_error`` (and, with ``counts``, for
        which ``counts(provider)`` holds). Read-only, like :meth:`peek`, and never waits
        for DNS (readiness probes ask it)."""
        now = self._clock()
        with self._lock:
            return any(
                slot.provider is not None
                and self._within_stale_window(slot, now)
                and (counts is None or counts(slot.provider))
                for slot in self._slots.values()
            )

    def held(self, domain: str) -> Served | None:
        """What :meth:`get` would answer from memory for ``domain`` (fresh, or stale within
        ``stale_if_error``), or None. Read-only: no counter, no LRU order, no refresh, no
        DNS (the snapshot reader builds hosted settings on the provider's with it)."""
        now = self._clock()
        with self._lock:
            slot = self._slots.get(domain)
            if slot is None or not self._within_stale_window(slot, now):
                return None
            return self._served(slot, now)

    def get(self, domain: str) -> Served:
        """The provider for ``domain``, loading it when there is no usable entry.

        :raises DnsUnavailableError: the load failed (now or within ``failure_ttl``) and
            no provider within the stale window is known.
        """
        now = self._clock()
        with self._lock:
            slot = self._touch(domain)
            served = self._from_memory(domain, slot, now)
            if served is not None:
                return served
            fallback = self.fallback if slot.provider is None else None
        if fallback is not None and fallback(domain):
            # Seeded from the snapshot just now (outside the lock: seeding takes it).
            now = self._clock()
            with self._lock:
                slot = self._touch(domain)
                served = self._from_memory(domain, slot, now)
                if served is not None:
                    return served
        with self._lock:
            slot = self._touch(domain)
            served = self._from_memory(domain, slot, now)
            if served is not None:
                return served
            trouble = slot.trouble = slot.trouble or _Trouble()
            flight = trouble.flight
            leader = flight is None
            if flight is None:
                flight = trouble.flight = _Flight()
            self.misses += 1
            self._observe("miss")
        if leader:
            return self._refresh(domain, slot, flight)
        return self._wait(flight)

    def refresh(self, domain: str) -> bool:
        """Load ``domain`` now in the calling thread (the keeper of the listed domains), as
        the single flight; a failure keeps the provider like a background refresh.

        :returns: True when a new provider was stored; False when the load failed or
            another load of the domain was already running.
        """
        with self._lock:
            slot = self._slots.get(domain)
            if slot is None:
                slot = self._slots[domain] = _Slot()
                self._evict()
            flight = self._take_off(slot)
            if flight is None:
                return False
        return self._background(domain, slot, flight)

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until no background refresh is queued or running (tests, benchmarks)."""
        return self._refresher.settle(timeout)

    def freshness(self, domain: str) -> Freshness | None:
        """How ``domain``'s provider stands, or None when none is cached. Read-only."""
        now = self._clock()
        with self._lock:
            slot = self._slots.get(domain)
            if slot is None or slot.provider is None:
                return None
            trouble = slot.trouble
            return Freshness(
                left=slot.expires_at - now,
                lifetime=self.policy.lifetime(slot.provider),
                retry_in=max(0.0, trouble.retry_at - now) if trouble else 0.0,
                in_flight=trouble is not None and trouble.flight is not None,
            )

    def seed(self, domain: str, provider: Provider, *, age: float) -> bool:
        """Store ``provider``, loaded ``age`` seconds ago elsewhere (the snapshot), unless
        what is cached is as recent, a load is running, or the cache is full (seeding
        never evicts). Past its lifetime it is served stale while one background refresh
        runs, never making a request wait.

        :returns: whether it was stored.
        """
        now = self._clock()
        lifetime = self.policy.lifetime(provider)
        expires_at = now + lifetime - max(0.0, age)
        if now >= expires_at + self.policy.stale_if_error:
            return False
        with self._lock:
            slot = self._slots.get(domain)
            if slot is None:
                if len(self._slots) >= self.policy.max_entries:
                    return False
                slot = self._slots[domain] = _Slot()
            elif slot.trouble is not None and slot.trouble.flight is not None:
                return False
            elif slot.provider is not None:
                loaded_at = slot.expires_at - self.policy.lifetime(slot.provider)
                if loaded_at >= expires_at - lifetime:
                    return False
            if slot.provider != provider:
                slot.version = next(self._versions)
            slot.provider = provider
            slot.expires_at = expires_at
            slot.refresh_at = self.policy.refresh_point(provider, expires_at, lifetime)
            slot.seeded = True
            self.seeded += 1
            return True

    def export(self) -> list[Exported]:
        """Every provider still within its stale window, most recently used first."""
        now = self._clock()
        with self._lock:
            found = [
                Exported(
                    domain=domain,
                    provider=slot.provider,
                    age=now - (slot.expires_at - self.policy.lifetime(slot.provider)),
                )
                for domain, slot in reversed(self._slots.items())
                if slot.provider is not None and self._within_stale_window(slot, now)
            ]
        return found

    def _touch(self, domain: str) -> _Slot:
        slot = self._slots.get(domain)
        if slot is None:
            slot = self._slots[domain] = _Slot()
            self._evict()
        else:
            self._slots.move_to_end(domain)
        return slot

    def _evict(self) -> None:
        while len(self._slots) > self.policy.max_entries:
            self._slots.popitem(last=False)
            self.evictions += 1

    def _from_memory(self, domain: str, slot: _Slot, now: float) -> Served | None:
        """An answer without loading, or None when this caller must load or wait."""
        if slot.provider is not None and now < slot.expires_at:
            self.hits += 1
            if now >= slot.refresh_at:
                self._ahead(domain, slot, now)
            self._observe("hit")
            return self._served(slot, now)
        trouble = slot.trouble
        failing = trouble is not None and bool(trouble.error)
        if (slot.seeded or failing) and self._within_stale_window(slot, now):
            # Expired, and either seeded from the snapshot (DNS never confirmed it here) or
            # its last refresh failed: answer now and refresh behind (RFC 8767 section 5),
            # not before ``retry_at``. A service started during an outage, or one whose DNS
            # fails for a while, makes no client wait for DNS after the first failure.
            if trouble is None or (trouble.flight is None and now >= trouble.retry_at):
                self._behind(domain, slot)
            return self._stale(slot, now, from_snapshot=slot.seeded)
        if trouble is None:
            return None
        if now < trouble.retry_at:
            # A load failed moments ago: do not ask again yet (RFC 2308 section 7.1).
            if self._within_stale_window(slot, now):
                return self._stale(slot, now)
            self.hits += 1
            self._observe("hit")
            retry_after = math.ceil(trouble.retry_at - now)
            raise trouble.kind(trouble.error, retry_after=retry_after)
        if trouble.flight is not None and self._within_stale_window(slot, now):
            # Someone is refreshing already: serve what we have meanwhile.
            self.revalidation_serves += 1
            self._observe("stale")
            return self._served(slot, now)
        return None

    def _stale(self, slot: _Slot, now: float, *, from_snapshot: bool = False) -> Served:
        self.stale_serves += 1
        self._observe("stale")
        if from_snapshot:
            self._observe("stale_from_snapshot")
        return self._served(slot, now)

    def _ahead(self, domain: str, slot: _Slot, now: float) -> None:
        """Start one background refresh of a provider near its expiry, unless one runs or
        a failure is remembered (then the next try waits for ``retry_at``)."""
        trouble = slot.trouble
        if trouble is not None and (trouble.flight is not None or now < trouble.retry_at):
            return
        if self._behind(domain, slot):
            self.refresh_aheads += 1
            self._observe("refresh_ahead")

    def _behind(self, domain: str, slot: _Slot) -> bool:
        """Hand a refresh of ``domain`` to the background threads; False when one is
        already running or the queue is full."""
        flight = self._take_off(slot)
        if flight is None:
            return False
        if self._refresher.submit(lambda: self._background(domain, slot, flight)):
            return True
        self._landed(slot)
        return False

    @staticmethod
    def _take_off(slot: _Slot) -> _Flight | None:
        """Make a new flight the slot's single one; None when one is running already."""
        trouble = slot.trouble = slot.trouble or _Trouble()
        if trouble.flight is not None:
            return None
        flight = trouble.flight = _Flight()
        return flight

    def _background(self, domain: str, slot: _Slot, flight: _Flight) -> bool:
        """Load without a caller to answer: a failure keeps what is cached."""
        try:
            provider = self._load(domain)
        except DnsUnavailableError as exc:
            with self._lock:
                flight.served = self._failed(domain, slot, exc, background=True)
                flight.error = None if flight.served else exc
            return False
        except BaseException as exc:
            with self._lock:
                flight.error = exc
            raise
        else:
            with self._lock:
                flight.served = self._stored(domain, slot, provider)
            return True
        finally:
            with self._lock:
                self._landed(slot)
            flight.done.set()

    def _within_stale_window(self, slot: _Slot, now: float) -> bool:
        return slot.provider is not None and now < slot.expires_at + self.policy.stale_if_error

    def _served(self, slot: _Slot, now: float) -> Served:
        assert slot.provider is not None
        if now < slot.expires_at:
            max_age = int(slot.expires_at - now)
            return Served(provider=slot.provider, version=slot.version, max_age=max_age)
        return Served(
            provider=slot.provider, version=slot.version, max_age=STALE_MAX_AGE, stale=True
        )

    def _refresh(self, domain: str, slot: _Slot, flight: _Flight) -> Served:
        """Load as the single leader, publish the outcome to waiters, return ours."""
        try:
            provider = self._load(domain)
        except DnsUnavailableError as exc:
            with self._lock:
                served = self._failed(domain, slot, exc)
                flight.served = served
                flight.error = None if served else exc
            if served is None:
                raise
            return served
        except BaseException as exc:
            with self._lock:
                flight.error = exc
            raise
        else:
            with self._lock:
                served = self._stored(domain, slot, provider)
                flight.served = served
            return served
        finally:
            with self._lock:
                self._landed(slot)
            flight.done.set()

    def _stored(self, domain: str, slot: _Slot, provider: Provider) -> Served:
        now = self._clock()
        self.loads += 1
        lifetime = self.policy.lifetime(provider)
        slot.provider = provider
        slot.version = next(self._versions)
        slot.expires_at = now + lifetime
        slot.refresh_at = self.policy.refresh_point(provider, slot.expires_at, lifetime)
        slot.seeded = False
        slot.trouble = None
        self._reinsert(domain, slot)
        if lifetime > 0:
            # The loading request gets the whole lifetime. Not via _served: in floating
            # point (now + lifetime) - now may fall just short (1000.1 + 60 - 1000.1 is
            # 59.99999999999989), and int() would announce a second less.
            return Served(provider=provider, version=slot.version, max_age=lifetime)
        return self._served(slot, now)

    def _failed(
        self, domain: str, slot: _Slot, exc: DnsUnavailableError, *, background: bool = False
    ) -> Served | None:
        now = self._clock()
        self.loads += 1
        self.refresh_failures += 1
        self._observe("failure")
        trouble = slot.trouble = slot.trouble or _Trouble()
        trouble.retry_at = now + self.policy.failure_ttl
        trouble.error = exc.detail
        trouble.kind = type(exc)
        self._reinsert(domain, slot)
        if not self._within_stale_window(slot, now):
            slot.provider = None
            return None
        # RFC 8767 section 5: keep answering from the expired data while DNS is down.
        left = slot.expires_at - now
        if left > 0:
            log.warning(
                "DNS refresh of %s failed, keeping its settings (%.0f s before expiry): %s",
                domain,
                left,
                exc.detail,
            )
        else:
            log.warning(
                "DNS refresh of %s failed, serving settings %.0f s past expiry: %s",
                domain,
                -left,
                exc.detail,
            )
        if background:
            # Nobody is answered by this refresh: keep the provider, count no serve.
            return self._served(slot, now)
        self.stale_serves += 1
        self._observe("stale")
        return self._served(slot, now)

    @staticmethod
    def _landed(slot: _Slot) -> None:
        """The flight is over; drop the trouble record unless a failure is remembered."""
        trouble = slot.trouble
        if trouble is not None:
            trouble.flight = None
            if not trouble.error:
                slot.trouble = None

    def _reinsert(self, domain: str, slot: _Slot) -> None:
        # The slot may have been evicted while its load was in flight.
        if self._slots.get(domain) is not slot:
            self._slots[domain] = slot
            self._evict()

    def _wait(self, flight: _Flight) -> Served:
        flight.done.wait()
        if flight.served is not None:
            return flight.served
        if isinstance(flight.error, DnsUnavailableError):
            # A fresh exception per waiter: one object raised in many threads would share
            # (and garble) its traceback.
            error = flight.error
            raise type(error)(error.detail, retry_after=error.retry_after)
        raise flight.error or RuntimeError("refresh ended without an outcome")


def _ignore(event: str) -> None:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """A rendered answer with its strong validator (RFC 9110 section 8.8.3)."""

    body: bytes
    #: Quoted entity tag, ready for the ``ETag`` header.
    etag: str

    @classmethod
    def of(cls, body: bytes) -> Document:
        """The document for ``body``; the tag is a hash, so equal bytes get equal tags."""
        digest = hashlib.blake2b(body, digest_size=16).hexdigest()
        return cls(body=body, etag=f'"{digest}"')


class DocumentCache:
    """A bounded LRU of rendered documents keyed by (format, provider version).

    Only for what depends on the provider alone: whole documents (no address in them), or
    a per-user format's skeleton with the address left open (:meth:`built`). A refreshed
    provider has a new version, so its documents are rendered anew; old ones age out.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._documents: OrderedDict[Hashable, object] = OrderedDict()

    def get(self, key: Hashable, render: Callable[[], bytes]) -> Document:
        """The cached document for ``key``, rendering it on a miss."""
        return self.built(key, Document, lambda: Document.of(render()))

    def built(self, key: Hashable, kind: type[T], build: Callable[[], T]) -> T:
        """The cached ``kind`` for ``key``, building it on a miss (or if the key held
        something else: keys name their format, so that is a caller's mistake, not a hit)."""
        with self._lock:
            found = self._documents.get(key)
            if isinstance(found, kind):
                self._documents.move_to_end(key)
                return found
        # Building outside the lock: two threads may both build once; equal results.
        made = build()
        if self.max_entries:
            with self._lock:
                self._documents[key] = made
                while len(self._documents) > self.max_entries:
                    self._documents.popitem(last=False)
        return made

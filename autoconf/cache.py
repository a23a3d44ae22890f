"""Per-worker cache of derived providers, one entry per served primary domain.

Pure module (no Flask, no dnspython): it is handed a loader and a clock, so the rules below
are unit-tested with a fake clock and used unchanged over live DNS. The rules are those of
``shared/docs/dns.md`` section 5:

- a provider lives for the TTL it was derived with, clamped to ``[floor, cap]``;
- a provider without usable servers is a negative answer (RFC 2308 section 5): it lives for
  its SOA-derived TTL, clamped to ``[floor, negative_cap]``;
- a failed lookup (SERVFAIL, timeout) is never a negative answer; it is only remembered for
  ``failure_ttl`` seconds so an outage is not hammered (RFC 2308 section 7.1);
- when a refresh fails, the last good provider is served for up to ``stale_if_error``
  seconds past its expiry (RFC 8767 "serve-stale"), logged and counted;
- one refresh per domain at a time (single-flight): concurrent callers wait for it, or get
  the expired provider at once when there is one (stale-while-revalidate);
- at most ``max_entries`` domains, least recently used evicted first.

Every successful load gets a new ``version``; documents rendered from a provider are keyed
on it (:class:`DocumentCache`), so a DNS change reaches the rendered bytes with the TTL.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Hashable
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

from autoconf.errors import DnsUnavailableError
from autoconf.model import Provider

log = logging.getLogger(__name__)
T = TypeVar("T")

Clock = Callable[[], float]
Loader = Callable[[str], Provider]
Observer = Callable[[str], None]
"""Told each event: "hit", "miss", "stale" (an expired provider served) or "failure" (a
load failed); for a metrics layer. Called under the cache lock: keep it quick."""

#: RFC 8767 section 4: a stale answer is handed out with a TTL of 30 seconds.
STALE_MAX_AGE = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class CachePolicy:
    """The ``[cache]`` settings; all durations in seconds."""

    enabled: bool = True
    floor: int = 60
    cap: int = 3600
    negative_cap: int = 300
    failure_ttl: int = 5
    stale_if_error: int = 86400
    max_entries: int = 10000
    max_documents: int = 1024

    def lifetime(self, provider: Provider) -> int:
        """How long ``provider`` may be served without asking DNS again."""
        bound = self.cap if provider.usable else min(self.cap, self.negative_cap)
        return min(max(provider.ttl, self.floor), bound)


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

    __slots__ = ("expires_at", "provider", "trouble", "version")

    def __init__(self) -> None:
        self.provider: Provider | None = None
        self.version = 0
        self.expires_at = 0.0
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
        self.hits = 0
        self.misses = 0
        self.loads = 0
        self.stale_serves = 0
        self.revalidation_serves = 0
        self.refresh_failures = 0
        self.evictions = 0

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
            left = slot.expires_at - now
            if left > 0:
                return f"fresh in this worker, {int(left)} s left"
            if self._within_stale_window(slot, now):
                return f"stale in this worker for {int(-left)} s (refresh pending or failing)"
            return "expired in this worker"

    def servable(self) -> bool:
        """Whether this worker holds settings for some domain that it would answer with
        now: fresh, or expired but within ``stale_if_error``. Read-only, like :meth:`peek`,
        and never waits for DNS (readiness probes ask it)."""
        now = self._clock()
        with self._lock:
            return any(self._within_stale_window(slot, now) for slot in self._slots.values())

    def get(self, domain: str) -> Served:
        """The provider for ``domain``, loading it when there is no usable entry.

        :raises DnsUnavailableError: the load failed (now or within ``failure_ttl``) and
            no provider within the stale window is known.
        """
        now = self._clock()
        with self._lock:
            slot = self._touch(domain)
            served = self._from_memory(slot, now)
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

    def _from_memory(self, slot: _Slot, now: float) -> Served | None:
        """An answer without loading, or None when this caller must load or wait."""
        if slot.provider is not None and now < slot.expires_at:
            self.hits += 1
            self._observe("hit")
            return self._served(slot, now)
        trouble = slot.trouble
        if trouble is None:
            return None
        if now < trouble.retry_at:
            # A load failed moments ago: do not ask again yet (RFC 2308 section 7.1).
            if self._within_stale_window(slot, now):
                self.stale_serves += 1
                self._observe("stale")
                return self._served(slot, now)
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
        slot.provider = provider
        slot.version = next(self._versions)
        lifetime = self.policy.lifetime(provider)
        slot.expires_at = now + lifetime
        slot.trouble = None
        self._reinsert(domain, slot)
        if lifetime > 0:
            # The loading request gets the whole lifetime. Not via _served: in floating
            # point (now + lifetime) - now may fall just short (1000.1 + 60 - 1000.1 is
            # 59.99999999999989), and int() would announce a second less.
            return Served(provider=provider, version=slot.version, max_age=lifetime)
        return self._served(slot, now)

    def _failed(self, domain: str, slot: _Slot, exc: DnsUnavailableError) -> Served | None:
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
        log.warning(
            "DNS refresh of %s failed, serving settings %.0f s past expiry: %s",
            domain,
            now - slot.expires_at,
            exc.detail,
        )
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

"""Keeping every worker warm: the snapshot at start, one keeper of the listed domains per host.

Each gunicorn worker runs one :class:`Keeper` (a daemon thread), started with the app:

- **At start** the worker seeds its settings cache (and with ``[hosting]`` its decision
  cache) from the snapshot (:mod:`autoconf.snapshot`), before it answers anything and
  without asking DNS. Entries still within their lifetime are fresh; older ones (within
  ``stale_if_error``) are served stale while one background refresh runs, so a restart
  during a DNS outage answers.
- **One keeper per host** (per state directory and set of listed domains): the worker that
  holds ``keeper-<hash>.lock`` (flock, released when its process ends, so a recycled or
  crashed keeper is replaced within a second) refreshes every listed domain before it
  expires, at most ``cache.refresh_rate`` lookups a second, and writes the snapshot when
  something changed. That is one lookup per domain per host, not per worker.
- **Hosted domains** are decided by whichever worker a client reaches, so every worker
  writes its served decisions (merged into the file under its lock) when it made new
  ones. The keeper does not refresh them: a hoster may have 100 000 customers, most of
  them idle at any moment, and the 17 questions of each decision would spend the DNS
  budget on domains nobody asks for; refresh-ahead on request keeps the active ones
  fresh, and an idle one is decided again on its next request (or served stale from the
  snapshot while DNS is down).
- **Every worker** re-reads the snapshot when someone else changed it and takes the
  entries newer than its own, so the keeper's refreshes, and the other workers' hosted
  decisions, reach it without a lookup of its own. Its own requests still refresh ahead
  (:mod:`autoconf.cache`), whatever the keeper does.

Writing and re-reading cost CPU in proportion to the number of domains, so each happens at
most every :data:`MIN_INTERVAL` seconds, and at most every :data:`COST_FACTOR` times the
last one's duration (a 100 000-domain file is not rewritten twice a second).
"""

from __future__ import annotations

import fcntl
import hashlib
import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path

from autoconf.cache import ProviderCache
from autoconf.errors import SnapshotError
from autoconf.hosting import HostedProvider
from autoconf.model import Provider
from autoconf.service import Discoverer
from autoconf.snapshot import HOSTED
from autoconf.snapshot import Entry
from autoconf.snapshot import Snapshot
from autoconf.snapshot import SnapshotFile
from autoconf.snapshot import entry_of
from autoconf.snapshot import hosted_answers
from autoconf.snapshot import hosted_entry_of
from autoconf.snapshot import identity
from autoconf.snapshot import provider_of
from autoconf.snapshot import read

log = logging.getLogger(__name__)

EventSink = Callable[[str], None]
"""Told "snapshot_loaded", "snapshot_rejected", "snapshot_written" and
"snapshot_entries_refused" (a start-up snapshot had entries today's configuration no longer
accepts; once per start, with the warning) - for a metrics layer."""

#: Seconds between two snapshot writes (keeper) or re-reads (other workers), at least.
MIN_INTERVAL = 1.0
#: ... and at least this many times the last write's or read's duration (<= 5 % CPU).
COST_FACTOR = 20.0
#: A worker start spends at most this long deriving settings from the snapshot; the rest
#: is seeded by the keeper thread right after (gunicorn kills a worker that boots for
#: longer than its timeout, 20 s).
SEED_BUDGET = 3.0
#: Work the thread does per step before it sleeps again (it shares the GIL with requests).
STEP_BUDGET = 0.2
#: A listed domain that failed is tried again after failure_ttl, doubling up to this.
MAX_BACKOFF = 300.0


class Keeper:
    """Warm start and warm keeping for one worker's :class:`Discoverer` (module docstring)."""

    def __init__(
        self,
        discoverer: Discoverer,
        directory: Path,
        *,
        on_event: EventSink | None = None,
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert discoverer.cache is not None, "a keeper needs the settings cache"
        self.discoverer = discoverer
        self.cache = discoverer.cache
        #: Hosted decisions (None without ``[hosting]``).
        self.decisions = discoverer.decisions
        self.settings = discoverer.settings
        self.directory = directory
        # The bound counts hosted entries whether [hosting] is on or not, so switching it
        # off does not make the file written while it was on too large to read.
        self._max_hosted = self.settings.hosting.max_decisions
        self.file = SnapshotFile(directory, self.settings.cache, max_hosted=self._max_hosted)
        self._event = on_event or _ignore
        self._wall = wall
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: The listed domains the keeper keeps (at most the cache's size).
        self._kept = list(self.settings.domains)[: self.settings.cache.max_entries]
        digest = hashlib.blake2b("\n".join(sorted(self.settings.domains)).encode(), digest_size=8)
        self.lock_path = directory / f"keeper-{digest.hexdigest()}.lock"
        self._lock_fd: int | None = None
        self._due: list[tuple[float, str]] = []
        #: Listed domains whose last refresh failed: (failures in a row, next try).
        self._failures: dict[str, tuple[int, float]] = {}
        self._next_lookup = 0.0
        self._dirty = False
        self._interval = MIN_INTERVAL
        self._last_write = float("-inf")
        self._last_read = float("-inf")
        #: The file version this worker last read or wrote.
        self._seen: tuple[int, int, int] | None = None
        #: Snapshot entries not derived yet (a large file at start), by domain.
        self._pending: dict[str, Entry] = {}
        self._pending_lock = threading.Lock()
        self._write_failed = False
        #: ``discoverer.served_decisions`` at the last write of our hosted entries.
        self._decisions_written = 0
        #: Entries today's configuration refused while seeding the start-up snapshot:
        #: how many, and the first one with its reason (one warning when seeding is done).
        self._refused = 0
        self._refused_example = ""
        self._starting = False

    @property
    def keeping(self) -> bool:
        """Whether this worker is the one refreshing the listed domains."""
        return self._lock_fd is not None

    # --- start -----------------------------------------------------------------------------

    def load(self) -> int:
        """Seed the cache from the snapshot (at worker start); returns entries seeded.

        Entries are derived most recently used first for up to :data:`SEED_BUDGET`; the
        rest wait in memory, derived by the thread or by the first request that needs one
        (the cache's fallback), never by a DNS lookup. Never raises for the file: an
        unusable one is ignored with one warning.
        """
        started = self._clock()
        self._seen = identity(self.file.path)
        snapshot = self._read()
        if snapshot is None:
            return 0
        entries = snapshot.entries
        self._starting = True
        seeded, rest = self._seed(entries, deadline=started + SEED_BUDGET)
        if rest:
            with self._pending_lock:
                self._pending = {entry.domain: entry for entry in rest}
            self._set_fallback(self._take)
        else:
            self._started()
        self._event("snapshot_loaded")
        log.info(
            "settings snapshot %s: %d of %d entries seeded in %.2f s%s",
            self.file.path,
            seeded,
            len(entries),
            self._clock() - started,
            f", {len(rest)} more when first asked for or in the background" if rest else "",
        )
        self._last_read = self._clock()
        return seeded

    def _take(self, domain: str) -> bool:
        """The caches' fallback: seed ``domain`` from a snapshot entry not derived yet."""
        with self._pending_lock:
            entry = self._pending.pop(domain, None)
        return entry is not None and self._seed((entry,), deadline=float("inf"))[0] > 0

    def _set_fallback(self, fallback: Callable[[str], bool] | None) -> None:
        self.cache.fallback = fallback
        if self.decisions is not None:
            self.decisions.fallback = fallback

    def _seed_pending(self, until: float) -> None:
        """Derive waiting snapshot entries, in batches, until ``until``."""
        while self._clock() < until:
            with self._pending_lock:
                batch = [self._pending.pop(d) for d in list(itertools.islice(self._pending, 100))]
            if not batch:
                self._set_fallback(None)
                self._started()
                return
            self._seed(tuple(batch), deadline=float("inf"))

    def _started(self) -> None:
        """Every entry of the start-up snapshot is seeded (or refused): say once what
        today's configuration refused."""
        if self._starting and self._refused:
            self._event("snapshot_entries_refused")
            log.warning(
                "settings snapshot %s: %d entr%s not used, today's configuration no longer "
                "serves them that way (the first: %s)",
                self.file.path,
                self._refused,
                "y" if self._refused == 1 else "ies",
                self._refused_example,
            )
        self._starting = False

    def _refuse(self, domain: str, why: str) -> None:
        if self._starting:
            self._refused += 1
            self._refused_example = self._refused_example or f"{domain}: {why}"
        else:
            log.debug("settings snapshot entry of %s not used: %s", domain, why)

    def _read(self) -> Snapshot | None:
        try:
            return read(
                self.file.path,
                now=self._wall(),
                policy=self.settings.cache,
                served=self.settings.domains,
                max_hosted=self._max_hosted,
                hosted=self.decisions is not None,
            )
        except FileNotFoundError:
            log.info("no settings snapshot at %s yet", self.file.path)
        except SnapshotError as exc:
            self._event("snapshot_rejected")
            log.warning("settings snapshot %s ignored: %s", self.file.path, exc.detail)
        except OSError as exc:
            self._event("snapshot_rejected")
            log.warning("settings snapshot %s ignored: %s", self.file.path, exc.strerror)
        return None

    def _seed(self, entries: Sequence[Entry], *, deadline: float) -> tuple[int, Sequence[Entry]]:
        """Derive and seed ``entries`` (listed ones first, each most recently used first)
        until ``deadline``; returns how many were seeded and the entries left for later.
        Entries not newer than what the caches hold are skipped without deriving."""
        now = self._wall()
        listed: list[tuple[str, Provider, float]] = []
        hosted: list[tuple[str, Provider, float]] = []
        seeded = 0
        rest: Sequence[Entry] = ()
        for index, entry in enumerate(entries):
            if self._clock() > deadline:
                rest = entries[index:]
                break
            age = max(0.0, now - entry.fetched_at)
            if entry.kind == HOSTED:
                if self.settings.primary_of(entry.domain) is not None:
                    continue  # listed here now (or an alias): its listed settings win
                if listed:
                    # MX and CNAME customers get the provider's settings: those must be
                    # in the cache before (the file has listed entries first).
                    seeded += _store(self.cache, listed)
                    listed = []
                provider = self._hosted(entry, age)
                if provider is not None:
                    hosted.append((entry.domain, provider, age))
                continue
            profile = self.settings.domains.get(entry.domain)
            if profile is None:
                continue  # not served here (another service, or removed from the config)
            if not _newer(self.cache, entry.domain, age):
                continue
            made = provider_of(entry, profile, self.settings.dns.trust)
            if made is None:
                self._refuse(entry.domain, "the trust policy refuses one of its servers")
            else:
                listed.append((entry.domain, made, age))
        seeded += _store(self.cache, listed)
        if self.decisions is not None:
            seeded += _store(self.decisions, hosted)
        return seeded, rest

    def _hosted(self, entry: Entry, age: float) -> HostedProvider | None:
        """A hosted entry's settings, decided again under today's ``[hosting]`` (None when
        it is not newer than what the decision cache holds, or today's configuration does
        not serve it)."""
        if self.decisions is None or not _newer(self.decisions, entry.domain, age):
            return None
        policy = self.discoverer.hosting
        if policy is not None and entry.decision != "srv" and policy.provider in self._pending:
            self._take(policy.provider)  # the provider's entry still waits: it comes first
        provider, why = self.discoverer.rebuilt(entry.domain, hosted_answers(entry))
        if provider is None:
            self._refuse(entry.domain, why)
        return provider

    # --- the thread ------------------------------------------------------------------------

    def start(self) -> None:
        """Run :meth:`step` in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="autoconf-keeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                pause = self.step()
            except Exception:
                log.exception("settings keeper step failed")
                pause = 5.0
            self._stop.wait(pause)

    def step(self) -> float:
        """One round of work; returns how long to sleep before the next."""
        now = self._clock()
        if self._pending or self._starting:
            self._seed_pending(now + STEP_BUDGET)
            return 0.0 if self._pending else MIN_INTERVAL
        if not self.keeping and self._elect():
            log.info("this worker keeps the listed domains fresh (%s)", self.lock_path.name)
            self._due = [(now, domain) for domain in self._kept]
            heapq.heapify(self._due)
            self._last_write = now
        if self.keeping:
            self._refresh_due(now + STEP_BUDGET)
        # Writing first: a write that merges what others wrote also takes it in, and the
        # re-read then finds the file as we left it.
        self._maybe_write()
        self._maybe_reread()
        return self._pause()

    def _elect(self) -> bool:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(self.lock_path, flags, 0o600)
        except OSError as exc:
            self._write_warning(f"cannot open {self.lock_path}: {exc.strerror}")
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def _pause(self) -> float:
        now = self._clock()
        pause = MIN_INTERVAL
        if self.keeping and self._due:
            pause = min(pause, max(self._due[0][0], self._next_lookup) - now)
        return max(0.0, pause)

    # --- the keeper's work -----------------------------------------------------------------

    def _refresh_due(self, until: float) -> None:
        """Refresh the listed domains that are due, one lookup at a time, at most
        ``refresh_rate`` a second, until ``until``."""
        while self._due and self._clock() < until:
            now = self._clock()
            due, domain = self._due[0]
            if due > now or self._next_lookup > now:
                return
            heapq.heappop(self._due)
            actual = self._due_at(domain, now)
            if actual > now:
                heapq.heappush(self._due, (actual, domain))
                continue
            self._next_lookup = now + 1.0 / self.settings.cache.refresh_rate
            if self.cache.refresh(domain):
                self._failures.pop(domain, None)
                self._dirty = True
            else:
                self._failed(domain)
            heapq.heappush(self._due, (self._due_at(domain, self._clock()), domain))

    def _failed(self, domain: str) -> None:
        """Back off: the next try after failure_ttl, doubling up to :data:`MAX_BACKOFF`."""
        count = self._failures.get(domain, (0, 0.0))[0] + 1
        base = max(1.0, float(self.settings.cache.failure_ttl))
        backoff = min(MAX_BACKOFF, base * 2.0 ** (count - 1))
        self._failures[domain] = (count, self._clock() + backoff)

    def _due_at(self, domain: str, now: float) -> float:
        """When ``domain`` should be refreshed: early enough that the other workers read
        the new settings from the snapshot before the old ones expire."""
        held = self.cache.freshness(domain)
        failed = self._failures.get(domain)
        if failed is not None:
            return max(failed[1], now + (held.retry_in if held else 0.0))
        if held is None:
            return now
        if held.in_flight:
            return now + 1.0
        horizon = max(2 * self.settings.cache.refresh_ahead * held.lifetime, 2 * self._interval + 2)
        horizon = min(horizon, held.lifetime / 2)
        return max(now + held.left - horizon, now + held.retry_in)

    def _maybe_write(self) -> None:
        """Write when something changed: the keeper once a round of due refreshes is done
        (so a warm-up of many domains is one write, not one per domain), and every ten
        intervals during a long one; any worker when it made new served hosted decisions.
        The keeper writes the listed domains and its hosted decisions, the others only
        their hosted decisions (the file keeps everybody's, newest per domain)."""
        now = self._clock()
        decided = self.discoverer.served_decisions
        hosted_dirty = decided != self._decisions_written
        if not (self._dirty or hosted_dirty) or now < self._last_write + self._interval:
            return
        busy = self.keeping and bool(self._due) and self._due[0][0] <= now
        if busy and now < self._last_write + 10 * self._interval:
            return
        wall = self._wall()
        entries: list[Entry] = []
        if self.keeping:
            trust = self.settings.dns.trust
            made = (entry_of(x, trust, now=wall) for x in self.cache.export())
            entries = [e for e in made if e is not None]
        withdrawn: dict[str, float] = {}
        if self.decisions is not None:
            for exported in self.decisions.export():
                entry = hosted_entry_of(exported, now=wall)
                if entry is not None:
                    entries.append(entry)
                else:
                    withdrawn[exported.domain] = wall - exported.age
        try:
            written = self.file.write(entries, now=wall, withdrawn=withdrawn)
        except OSError as exc:
            self._write_warning(f"cannot write {self.file.path}: {exc.strerror}")
            self._last_write = now
            return
        if self.file.read_back:
            # Others wrote since our last write: take their newer entries now (the
            # re-read will find the file as we just wrote it).
            self._seed(self.file.read_back, deadline=float("inf"))
        took = self._clock() - now
        self._last_write = self._clock()
        self._interval = max(MIN_INTERVAL, COST_FACTOR * took)
        if written:
            self._dirty = False
            self._decisions_written = decided
            self._seen = identity(self.file.path)
            self._write_failed = False
            self._event("snapshot_written")
            log.debug(
                "settings snapshot: %d entries, %d bytes, %.3f s", len(entries), written, took
            )

    def _write_warning(self, message: str) -> None:
        """One warning per run of failures, not one per attempt."""
        if not self._write_failed:
            log.warning("settings snapshot: %s (warm start is off until this is fixed)", message)
        self._write_failed = True

    # --- the other workers -----------------------------------------------------------------

    def _maybe_reread(self) -> None:
        now = self._clock()
        if now < self._last_read + self._interval:
            return
        current = identity(self.file.path)
        if current is None or current == self._seen:
            return
        self._seen = current
        snapshot = self._read()
        if snapshot is not None:
            self._seed(snapshot.entries, deadline=float("inf"))
        took = self._clock() - now
        self._last_read = self._clock()
        self._interval = max(MIN_INTERVAL, COST_FACTOR * took)


def _newer(cache: ProviderCache, domain: str, age: float) -> bool:
    """Whether settings loaded ``age`` seconds ago are newer than what ``cache`` holds."""
    held = cache.freshness(domain)
    return held is None or age < held.lifetime - held.left - 0.001


def _store(cache: ProviderCache, made: list[tuple[str, Provider, float]]) -> int:
    """Seed ``made`` (most recently used first); returns how many were stored. Least
    recently used first, so the cache's LRU order ends up as the file's."""
    return sum(cache.seed(domain, provider, age=age) for domain, provider, age in reversed(made))


def _ignore(event: str) -> None:
    pass

"""Prometheus metrics, per application, working across gunicorn workers.

Labels are bounded sets (format, outcome, rdtype, status, event): never a domain or an address,
for privacy and cardinality (Prometheus' naming guide). Under gunicorn each worker writes its
values to ``$PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` merges them (prometheus-client's
multiprocess mode); without that variable the app's own registry is exported.

prometheus-client names each process's files after its pid and never removes them, so every
recycled worker (``max_requests``) would leave its files behind until the scratch tmpfs is
full. :func:`archive_dead_processes` (run by the gunicorn master when a worker exits) adds a
dead process's counter and histogram values into one archive file per kind and deletes its
files: totals keep counting, and the directory holds at most two files per live worker plus
the archives. Merging and scraping take a lock on the directory, so a scrape never sees a
value both in the archive and in the dead file, or in neither.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

from autoconf.flock import flocked
from autoconf.model import RRset
from autoconf.server import PROMETHEUS_MULTIPROC_DIR

MULTIPROC_ENV = PROMETHEUS_MULTIPROC_DIR.name
# Answers are sub-millisecond when cached and bounded by the DNS timeout otherwise.
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DNS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class Metrics:
    """The service's metrics, registered in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[object, ...], Any] = {}
        self.requests = Counter(
            "autoconf_requests",
            "HTTP requests by client format and outcome",
            ["format", "outcome"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "autoconf_request_seconds",
            "Time to answer a request",
            ["format"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.dns_queries = Counter(
            "autoconf_dns_queries",
            "DNS questions asked, by type and result",
            ["rdtype", "status"],
            registry=self.registry,
        )
        self.dns_seconds = Histogram(
            "autoconf_dns_query_seconds",
            "Time per DNS question",
            buckets=DNS_BUCKETS,
            registry=self.registry,
        )
        self.cache_events = Counter(
            "autoconf_cache_events",
            "Settings cache lookups: hit, miss, stale, failure",
            ["event"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "autoconf_hosting_decisions",
            "Cold hosting decisions by outcome: srv, mx, cname, not-served, failed, over-budget",
            ["outcome"],
            registry=self.registry,
        )
        self.warm_events = Counter(
            "autoconf_warm_events",
            "Keeping settings warm: refresh_ahead, stale_from_snapshot, snapshot_loaded, "
            "snapshot_rejected, snapshot_entries_refused, snapshot_written",
            ["event"],
            registry=self.registry,
        )

    def decision(self, outcome: str) -> None:
        """Record one cold hosting decision: srv, mx, cname, not-served, failed or
        over-budget (never the domain)."""
        self._child(self.decisions, outcome).inc()

    def observe_dns(self, rdtype: str, result: RRset, seconds: float) -> None:
        """Record one live DNS question (the LiveSource observer hook)."""
        self.dns_queries.labels(rdtype=rdtype, status=result.status.value).inc()
        self.dns_seconds.observe(seconds)

    def observe_request(self, fmt: str, outcome: str, seconds: float) -> None:
        """Record one answered request."""
        self._child(self.requests, fmt, outcome).inc()
        self._child(self.request_seconds, fmt).observe(seconds)

    def cache_event(self, event: str) -> None:
        """Record a cache hit, miss, stale serve or refresh failure."""
        self._child(self.cache_events, event).inc()

    def warm_event(self, event: str) -> None:
        """Record a refresh-ahead, a stale serve from the snapshot, or a snapshot load,
        rejection or write (never the domain)."""
        self._child(self.warm_events, event).inc()

    def _child(self, metric: Any, *labels: str) -> Any:
        # labels() takes a lock and builds a key on every call (3 us per request of the
        # hot path); the label sets are small and fixed, so the children are kept.
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def exposition(self) -> bytes:
        """The text exposition format, merged across workers in multiprocess mode."""
        directory = os.environ.get(MULTIPROC_ENV)
        if directory:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
            with flocked(Path(directory) / LOCK_FILE, shared=True):
                return generate_latest(registry)
        return generate_latest(self.registry)


#: Kinds whose values from several processes are simply added up by the collector (gauges,
#: which keep a value per pid or a min/max, are not used by this service and not archived).
ADDITIVE_KINDS = ("counter", "histogram", "summary")
#: ``<kind>_<pid>.db``, the name prometheus-client gives each process's file.
_PROCESS_FILE = re.compile(r"^(counter|histogram|summary)_(\d+)\.db$")
ARCHIVE = "{kind}_archive.db"
LOCK_FILE = "archive.lock"  # not *.db: the collector reads every *.db file
#: How long the master waits for scrapes in progress before leaving the merge for later.
LOCK_PATIENCE = 2.0


def archive_dead_processes(directory: Path, live: Collection[int]) -> bool:
    """Add the counter/histogram/summary values of every process not in ``live`` to
    ``<kind>_archive.db`` and delete that process's files. Returns False (and changes
    nothing) when scrapes held the lock for longer than :data:`LOCK_PATIENCE`.

    The collector sums these kinds by key across files (histogram buckets are stored per
    bucket, not cumulated), so summing by key here gives exactly the same totals.
    """
    dead: dict[str, list[Path]] = {kind: [] for kind in ADDITIVE_KINDS}
    for path in directory.iterdir():
        match = _PROCESS_FILE.match(path.name)
        if match and int(match[2]) not in live:
            dead[match[1]].append(path)
    if not any(dead.values()):
        return True
    with flocked(directory / LOCK_FILE, patience=LOCK_PATIENCE) as acquired:
        if not acquired:
            return False
        for kind, files in dead.items():
            if files:
                _fold(directory / ARCHIVE.format(kind=kind), files)
    return True


def _fold(archive: Path, files: list[Path]) -> None:
    """Rewrite ``archive`` with the sum of its values and ``files``', then drop ``files``."""
    totals: dict[str, float] = {}
    for path in [archive, *files] if archive.exists() else files:
        entries = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
        for key, value, _timestamp, _pos in entries:
            totals[key] = totals.get(key, 0.0) + value
    scratch = archive.with_suffix(".tmp")
    scratch.unlink(missing_ok=True)
    merged: Any = MmapedDict(str(scratch))  # type: ignore[no-untyped-call]
    try:
        for key, value in totals.items():
            merged.write_value(key, value, 0.0)
    finally:
        merged.close()
    os.replace(scratch, archive)  # atomic: a reader sees the old archive or the new one
    for path in files:
        path.unlink()

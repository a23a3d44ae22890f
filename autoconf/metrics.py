"""Prometheus metrics, per application, working across gunicorn workers.

Labels are bounded sets (format, outcome, rdtype, status, event): never a domain or an address,
for privacy and cardinality (security.md section 5). Under gunicorn each worker writes its
values to ``$PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` merges them (prometheus-client's
multiprocess mode); without that variable the app's own registry is exported.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from autoconf.model import RRset

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
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
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)

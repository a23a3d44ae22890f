"""Readiness that answers within a fixed budget, whatever DNS does.

An orchestrator's probe gives up after a few seconds (deploy/kubernetes: 3 s) and takes the
instance out of the load balancer. A DNS outage must not do that while the instance still
has settings to serve (stale-if-error, RFC 8767), and no probe may wait out one DNS
timeout per domain. So, in this order:

1. settings this worker could answer with now (fresh, or stale within ``stale_if_error``):
   a listed domain's, or a hosted domain's that a served decision holds (a stranger's
   cached "not served" does not count), make it ready at once, without a DNS query;
2. otherwise up to :data:`SAMPLE` served domains are looked up at the same time, through
   the cache (a lookup fills it for the next request and the next probe), and the answer
   comes as soon as one lookup gets through DNS, or after :data:`BUDGET` seconds. Lookups
   still running then go on in the background; a later probe joins them instead of
   starting more, so probes never pile up threads.

Not ready means DNS failed (or did not answer within the budget) for every sampled domain
and nothing is cached to fall back on.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait
from dataclasses import dataclass

from autoconf.errors import AutoconfError
from autoconf.errors import DnsUnavailableError
from autoconf.hosting import HostedProvider
from autoconf.model import Provider
from autoconf.service import Discoverer

#: Served domains a DNS check looks at, at most: one thread each, all at once.
SAMPLE = 20
#: Seconds a readiness answer may take: well under a probe's timeout, and under one DNS
#: timeout (``dns.timeout``, 2 s by default), which a black-holed resolver always costs.
BUDGET = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """One readiness answer; ``basis`` says whether cached settings or DNS decided it."""

    ready: bool
    basis: str
    domains_checked: int = 0
    dns_failures: int = 0
    dns_pending: int = 0

    def as_json(self) -> dict[str, object]:
        """The ``/readyz`` body."""
        return {
            "status": "ready" if self.ready else "dns-unavailable",
            "basis": self.basis,
            "domains_checked": self.domains_checked,
            "dns_failures": self.dns_failures,
            "dns_pending": self.dns_pending,
        }


class Readiness:
    """Decides readiness for one app (one per worker process)."""

    def __init__(
        self, discoverer: Discoverer, *, sample: int = SAMPLE, budget: float = BUDGET
    ) -> None:
        self._discoverer = discoverer
        self._domains = list(discoverer.settings.domains)[:sample]
        self._budget = budget
        self._lock = threading.Lock()
        #: The latest lookup per sampled domain; a running one is joined, not repeated.
        self._lookups: dict[str, Future[bool]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def verdict(self) -> Verdict:
        """Ready or not, within about :data:`BUDGET` seconds."""
        cache = self._discoverer.cache
        decisions = self._discoverer.decisions
        if (cache is not None and cache.servable()) or (
            decisions is not None and decisions.servable(_served_decision)
        ):
            return Verdict(ready=True, basis="cache")
        if not self._domains:
            return Verdict(ready=False, basis="dns")
        deadline = time.monotonic() + self._budget
        pending = set(self._start())
        done: set[Future[bool]] = set()
        while pending:
            finished, pending = wait(
                pending, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED
            )
            done |= finished
            if any(future.result() for future in finished) or time.monotonic() >= deadline:
                break
        successes = sum(future.result() for future in done)
        return Verdict(
            ready=successes > 0,
            basis="dns",
            domains_checked=len(done),
            dns_failures=len(done) - successes,
            dns_pending=len(pending),
        )

    def _start(self) -> list[Future[bool]]:
        """A lookup per sampled domain: the one still running, else a new one."""
        with self._lock:
            if self._pool is None:
                # Created on first use: under gunicorn that is in the worker, after the fork.
                self._pool = ThreadPoolExecutor(len(self._domains), thread_name_prefix="readyz")
            for domain in self._domains:
                running = self._lookups.get(domain)
                if running is None or running.done():
                    self._lookups[domain] = self._pool.submit(self._answers, domain)
            return list(self._lookups.values())

    def _answers(self, domain: str) -> bool:
        """Whether DNS answered for ``domain`` (no usable records is an answer too)."""
        try:
            self._discoverer.served(domain, mail=False)
        except DnsUnavailableError:
            return False
        except AutoconfError:
            return True
        return True


def _served_decision(provider: Provider) -> bool:
    """A hosted domain this worker would answer for (a decision that serves it)."""
    return isinstance(provider, HostedProvider) and provider.decision.served

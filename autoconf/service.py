"""The middle of every request: allow-list, record source, derivation.

Kept free of Flask so the CLI and the web views share exactly the same path; what a client
is told and what ``mail-autoconf check`` prints can therefore never disagree.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from autoconf.cache import Clock
from autoconf.cache import Observer
from autoconf.cache import ProviderCache
from autoconf.cache import Served
from autoconf.config import Settings
from autoconf.discovery import DomainProfile
from autoconf.discovery import derive
from autoconf.discovery import questions
from autoconf.errors import NoSettingsError
from autoconf.errors import UnknownDomainError
from autoconf.model import Provider
from autoconf.model import Question
from autoconf.model import RecordSource
from autoconf.model import RRset


@dataclass(frozen=True, slots=True, kw_only=True)
class Lookup:
    """One derivation: the raw answers and the provider built from them."""

    answers: dict[Question, RRset]
    provider: Provider


#: How many recent loads keep their raw answers per worker, and how many records those may
#: hold together (one domain may publish thousands): the diagnostics page shows them next to
#: the cached settings, so it never asks DNS again for what a load already saw.
KEPT_LOADS = 64
KEPT_RECORDS = 8192


@dataclass(slots=True, kw_only=True, eq=False)
class Kept:
    """What one load of the settings cache saw, kept a while for the diagnostics page."""

    #: The provider that load produced (compared by identity: one load, one object).
    provider: Provider
    #: The answers it was derived from; None when they are no longer kept.
    answers: dict[Question, RRset] | None
    #: Answers to the lint-only questions, once asked for this load (filled by the report).
    lint: dict[Question, RRset] | None = None


class KeptLoads:
    """A small LRU of :class:`Kept`, one per primary domain, bounded in entries and in
    records, so a worker keeps a few hundred kilobytes at most whatever domains publish."""

    def __init__(self, max_entries: int = KEPT_LOADS, max_records: int = KEPT_RECORDS) -> None:
        self._max_entries = max_entries
        self._max_records = max_records
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, Kept] = OrderedDict()
        self._records = 0

    def put(self, primary: str, kept: Kept) -> None:
        with self._lock:
            self._put(primary, kept)

    def _put(self, primary: str, kept: Kept) -> None:
        old = self._entries.pop(primary, None)
        if old is not None:
            self._records -= _size(old)
        self._entries[primary] = kept
        self._records += _size(kept)
        # The newest entry stays even when it alone is over the record bound.
        while len(self._entries) > 1 and (
            len(self._entries) > self._max_entries or self._records > self._max_records
        ):
            _, evicted = self._entries.popitem(last=False)
            self._records -= _size(evicted)

    def get(self, primary: str, provider: Provider) -> Kept:
        """The entry of the load that produced ``provider``. Without one, a new entry
        without answers: kept when the domain has none (its answers were evicted), not
        when a newer load has replaced ``provider`` meanwhile (that entry stays)."""
        with self._lock:
            kept = self._entries.get(primary)
            if kept is not None and kept.provider is provider:
                self._entries.move_to_end(primary)
                return kept
            fresh = Kept(provider=provider, answers=None)
            if kept is None:
                self._put(primary, fresh)
            return fresh


def _size(kept: Kept) -> int:
    """Records held by ``kept``, for the record bound (answers only: lint is bounded)."""
    answers = kept.answers or {}
    return sum(1 + len(r.srv) + len(r.txt) + len(r.rdata) for r in answers.values())


class Discoverer:
    """Answers "what are the settings for this domain?" for the configured domains."""

    def __init__(
        self,
        settings: Settings,
        source: RecordSource,
        *,
        clock: Clock = time.monotonic,
        observer: Observer | None = None,
        on_domain: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        #: Told every domain asked for, served or not (the web layer's request log).
        self._on_domain = on_domain
        #: None when ``[cache] enabled = false``: every request then asks DNS.
        self.cache = (
            ProviderCache(settings.cache, self._derive, clock=clock, observer=observer)
            if settings.cache.enabled
            else None
        )
        self._uncached_versions = itertools.count(-1, -1)
        #: The raw answers of recent loads, for the diagnostics page.
        self.kept_loads = KeptLoads()
        # Every served name -> its primary, as the configuration's own string object, so
        # cache entries keep no per-request strings alive (100 000 domains: ~6 MB less).
        self._primaries = {**{d: d for d in settings.domains}, **settings.aliases}

    def primary(self, domain: str) -> str:
        """The served primary domain for ``domain`` (itself or the domain it aliases).

        :raises UnknownDomainError: when the domain is not configured. This check comes
            before any DNS query, so strangers cannot make the service query names of
            their choosing (security.md section 6).
        """
        if self._on_domain is not None:
            self._on_domain(domain)
        primary = self._primaries.get(domain)
        if primary is None:
            raise UnknownDomainError(f"{domain} is not served")
        return primary

    def lookup(self, domain: str, profile: DomainProfile | None = None) -> Lookup:
        """Ask the source and derive, uncached. ``profile`` defaults to the configured one.

        :raises DnsUnavailableError: when a question failed.
        """
        profile = profile or self.settings.domains[domain]
        answers = self.source.ask(questions(domain))
        return Lookup(
            answers=answers, provider=derive(domain, answers, profile, self.settings.dns.trust)
        )

    def served(self, domain: str, *, mail: bool = True) -> Served:
        """Settings for a served domain (or alias), through the cache, with their version
        and remaining lifetime. ``mail=False`` also returns settings without usable mail
        servers (a DAV-only domain).

        :raises UnknownDomainError: not configured (no DNS query made).
        :raises NoSettingsError: DNS offers no usable incoming or outgoing server (cached
            as a negative answer).
        :raises DnsUnavailableError: DNS failed and nothing stale may be served.
        """
        primary = self.primary(domain)
        served = self._uncached(primary) if self.cache is None else self.cache.get(primary)
        if mail and not served.provider.usable:
            raise NoSettingsError(f"{primary} has no usable incoming/outgoing server")
        return served

    def provider(self, domain: str) -> Provider:
        """:meth:`served` without the cache bookkeeping."""
        return self.served(domain).provider

    def kept(self, primary: str, provider: Provider) -> Kept:
        """What the load that produced ``provider`` saw (its answers while still kept), for
        the diagnostics page; lint answers stored on it live as long as the entry."""
        return self.kept_loads.get(primary, provider)

    def _derive(self, primary: str) -> Provider:
        lookup = self.lookup(primary)
        self.kept_loads.put(primary, Kept(provider=lookup.provider, answers=lookup.answers))
        return lookup.provider

    def _uncached(self, primary: str) -> Served:
        provider = self._derive(primary)
        # Negative versions never collide with the cache's, and each lookup gets its own.
        return Served(
            provider=provider,
            version=next(self._uncached_versions),
            max_age=self.settings.cache.lifetime(provider),
        )

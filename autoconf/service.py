"""The middle of every request: which domains are served, record source, derivation.

Kept free of Flask so the CLI and the web views share exactly the same path; what a client
is told and what ``mail-autoconf check`` prints can therefore never disagree.

A listed domain (``[domains]`` or an alias) is served from the settings cache. With
``[hosting]`` on, any other domain is decided from its DNS (:mod:`autoconf.hosting`): the
decision, with the settings it gives, lives in a second cache of its own size, so strangers
never evict the listed domains, and a cold decision spends a token of this worker's budget.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace

from autoconf import hosting
from autoconf.cache import Clock
from autoconf.cache import Observer
from autoconf.cache import ProviderCache
from autoconf.cache import Served
from autoconf.config import Settings
from autoconf.discovery import DomainProfile
from autoconf.discovery import derive
from autoconf.discovery import questions
from autoconf.errors import DecisionBudgetError
from autoconf.errors import DnsUnavailableError
from autoconf.errors import NoSettingsError
from autoconf.errors import UnknownDomainError
from autoconf.hosting import Budget
from autoconf.hosting import Decision
from autoconf.hosting import HostedProvider
from autoconf.hosting import Kind
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import Question
from autoconf.model import RecordSource
from autoconf.model import RRset
from autoconf.model import Server


@dataclass(frozen=True, slots=True, kw_only=True)
class Lookup:
    """One derivation: the raw answers and the provider built from them."""

    answers: dict[Question, RRset]
    provider: Provider


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """Where a served domain's answers come from, known before its settings are read: a
    view that must decide something first (the POX schema and alias redirect, the DAV
    redirect) routes the domain, then asks :meth:`Discoverer.settings_of`."""

    #: The served primary: the domain itself, the listed domain it aliases, or itself when
    #: hosted (a hosted domain is never an alias).
    primary: str
    #: The primary's ActiveSync URL ("" when it has none): configuration for a listed
    #: domain, the decided settings' for a hosted one.
    activesync_url: str
    #: A hosted domain's settings: deciding that it is served read them already (one entry
    #: of the decision cache holds both), so the request looks it up once. None for a
    #: listed domain, whose settings the settings cache gives when they are asked for.
    hosted: Served | None = None


#: The second reason of a hosted decision read back from the settings snapshot.
SNAPSHOT_REASON = "read back from the settings snapshot, which keeps only the record that decided"

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Explained:
    """One hosting decision made afresh, with everything behind it (``check``, the page)."""

    answers: dict[Question, RRset]
    decision: Decision
    #: The settings clients get; None unless the domain is served.
    provider: Provider | None
    #: The settings derived from the domain's own SRV records; None when those failed.
    derived: Provider | None


def _usable(served: Served, *, mail: bool) -> Served:
    if mail and not served.provider.usable:
        domain = served.provider.domain
        raise NoSettingsError(f"{domain} has no usable incoming/outgoing server")
    return served


class Discoverer:
    """Answers "is this domain served, and with which settings?"."""

    def __init__(
        self,
        settings: Settings,
        source: RecordSource,
        *,
        clock: Clock = time.monotonic,
        observer: Observer | None = None,
        on_decision: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        #: Told the outcome of every cold hosting decision (a metrics layer).
        self._on_decision = on_decision
        # One numbering for both caches: documents rendered from either share a cache.
        versions = itertools.count(1)
        #: None when ``[cache] enabled = false``: every request then asks DNS.
        self.cache = (
            ProviderCache(
                settings.cache, self._derive, clock=clock, observer=observer, versions=versions
            )
            if settings.cache.enabled
            else None
        )
        self._uncached_versions = itertools.count(-1, -1)
        #: The raw answers of recent loads, for the diagnostics page.
        self.kept_loads = KeptLoads()
        # Every served name -> its primary, as the configuration's own string object, so
        # cache entries keep no per-request strings alive (100 000 domains: ~6 MB less).
        self._primaries = {**{d: d for d in settings.domains}, **settings.aliases}
        #: The hosting rule; None when ``[hosting]`` is off.
        self.hosting = settings.hosting.policy
        self.budget = (
            Budget(settings.hosting.decisions_per_second, clock=clock) if self.hosting else None
        )
        #: Hosted domains' decisions and settings (:class:`HostedProvider` values).
        self.decisions = (
            ProviderCache(
                replace(settings.cache, max_entries=settings.hosting.max_decisions),
                self._decide,
                clock=clock,
                observer=observer,
                versions=versions,
            )
            if self.hosting is not None and settings.cache.enabled
            else None
        )
        #: Served hosted decisions this worker made (cold or refreshed): the snapshot
        #: writer rewrites its hosted entries when this moved.
        self.served_decisions = 0
        # The provider's servers relabelled for hosted domains, per provider version: every
        # MX- or CNAME-hosted domain shares one mapping (one per worker, not per domain).
        self._relabelled: tuple[tuple[int, str, str], dict[Protocol, tuple[Server, ...]]] | None
        self._relabelled = None

    def _listed(self, domain: str) -> str | None:
        """The listed primary of ``domain`` (itself or the domain it aliases), or None."""
        return self._primaries.get(domain)

    def primary(self, domain: str) -> str:
        """The served primary domain for ``domain``: itself or the domain it aliases, or
        itself when it is hosted (a hosted domain is never an alias).

        :raises UnknownDomainError: when the domain is not served. Without ``[hosting]``
            this check comes before any DNS query, so strangers cannot make the service
            query names of their choosing (docs/security-model.md); with it, the cached
            decision.
        :raises DnsUnavailableError: the decision could not be made (or the budget of cold
            decisions is spent: :class:`DecisionBudgetError`).
        """
        return self.route(domain).primary

    def route(self, domain: str) -> Route:
        """:meth:`primary`, with the ActiveSync URL and, for a hosted domain, the settings
        its decision holds (for :meth:`settings_of`).

        :raises UnknownDomainError: when the domain is not served (see :meth:`primary`).
        :raises DnsUnavailableError: the decision could not be made.
        """
        primary = self._listed(domain)
        if primary is not None:
            activesync_url = self.settings.domains[primary].activesync_url
            return Route(primary=primary, activesync_url=activesync_url)
        hosted = self._hosted(domain)
        activesync_url = hosted.provider.activesync_url
        return Route(primary=domain, activesync_url=activesync_url, hosted=hosted)

    def decision(self, domain: str) -> Decision:
        """Why ``domain`` is served or not: listed and unlooked-up names without DNS, any
        other through the decision cache (the same answer every entry point gets).

        :raises DnsUnavailableError: the decision could not be made.
        """
        primary = self._listed(domain)
        if primary is not None:
            return hosting.listed(domain, primary)
        if self.hosting is None:
            return hosting.not_listed(
                domain, "not in [domains], and [hosting] is off: nothing is looked up"
            )
        problem = hosting.admissible(domain)
        if problem:
            return hosting.not_listed(domain, f"never looked up: {problem}")
        return self._hosted_entry(domain)[1].decision

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
        """Settings for a served domain (listed, alias or hosted), through the cache, with
        their version and remaining lifetime. ``mail=False`` also returns settings without
        usable mail servers (a DAV-only domain).

        :raises UnknownDomainError: not served.
        :raises NoSettingsError: DNS offers no usable incoming or outgoing server (cached
            as a negative answer).
        :raises DnsUnavailableError: DNS failed and nothing stale may be served.
        """
        primary = self._listed(domain)
        served = self._hosted(domain) if primary is None else self._settings(primary)
        return _usable(served, mail=mail)

    def settings_of(self, route: Route, *, mail: bool = True) -> Served:
        """:meth:`served` for a routed domain: a hosted domain's are the settings its route
        read (the decision cache is looked at once per request, and counted once), a listed
        domain's come from the settings cache now.

        :raises NoSettingsError: as :meth:`served`.
        :raises DnsUnavailableError: as :meth:`served`.
        """
        served = route.hosted or self._settings(route.primary)
        return _usable(served, mail=mail)

    def provider(self, domain: str) -> Provider:
        """:meth:`served` without the cache bookkeeping."""
        return self.served(domain).provider

    def kept(self, primary: str, provider: Provider) -> Kept:
        """What the load that produced ``provider`` saw (its answers while still kept), for
        the diagnostics page; lint answers stored on it live as long as the entry."""
        return self.kept_loads.get(primary, provider)

    def explain(self, domain: str) -> Explained:
        """Decide whether ``domain`` is hosted afresh (no cache, no budget: ``check`` and
        the page, for people), with the answers behind the decision.

        :raises DnsUnavailableError: the provider's own settings could not be looked up.
        """
        assert self.hosting is not None, "explain() needs [hosting]"
        answers = self.source.ask(hosting.questions(domain))
        decision, derived = hosting.decide(domain, answers, self.hosting)
        provider = self._hosted_settings(decision, derived) if decision.served else None
        return Explained(answers=answers, decision=decision, provider=provider, derived=derived)

    # --- listed domains --------------------------------------------------------------

    def _settings(self, primary: str) -> Served:
        return self._uncached(primary) if self.cache is None else self.cache.get(primary)

    def _derive(self, primary: str) -> Provider:
        lookup = self.lookup(primary)
        self.kept_loads.put(primary, Kept(provider=lookup.provider, answers=lookup.answers))
        return lookup.provider

    def _uncached(self, primary: str) -> Served:
        return self._fresh(self._derive(primary))

    def _fresh(self, provider: Provider) -> Served:
        # Negative versions never collide with the caches', and each lookup gets its own.
        return Served(
            provider=provider,
            version=next(self._uncached_versions),
            max_age=self.settings.cache.lifetime(provider),
        )

    # --- hosted domains --------------------------------------------------------------

    def _hosted(self, domain: str) -> Served:
        """The served settings of hosted ``domain``.

        :raises UnknownDomainError: hosting is off, the name is never looked up, or the
            decision says it is not served (with the reasons).
        """
        if self.hosting is None:
            raise UnknownDomainError(f"{domain} is not served")
        problem = hosting.admissible(domain)
        if problem:
            raise UnknownDomainError(f"{domain} is not served: {problem}")
        served, provider = self._hosted_entry(domain)
        if not provider.decision.served:
            reasons = provider.decision.reasons
            raise UnknownDomainError(f"{domain} is not served", reasons=reasons)
        return served

    def _hosted_entry(self, domain: str) -> tuple[Served, HostedProvider]:
        if self.decisions is None:
            served = self._fresh(self._decide(domain))
        else:
            served = self.decisions.get(domain)
        provider = served.provider
        assert isinstance(provider, HostedProvider)
        return served, provider

    def _decide(self, domain: str) -> Provider:
        """One cold decision (the decision cache's loader): spend a token, ask the fixed
        question set once, decide, build the settings.

        :raises DecisionBudgetError: no token left (no query made).
        :raises DnsUnavailableError: a question the decision rests on failed.
        """
        assert self.hosting is not None and self.budget is not None
        wait = self.budget.take()
        if wait:
            self._count("over-budget")
            raise DecisionBudgetError(
                "the budget of cold hosting decisions is spent",
                retry_after=hosting.retry_after(wait),
            )
        answers = self.source.ask(hosting.questions(domain))
        decision, derived = hosting.decide(domain, answers, self.hosting)
        self._count(decision.kind.value)
        if decision.kind is Kind.FAILED:
            raise DnsUnavailableError("; ".join(decision.reasons))
        if decision.served:
            self.served_decisions += 1
        # Kept without its records: only check and the page show them, and they decide
        # afresh (explain); an MX answer kept per domain would cost ~300 bytes each.
        return self._hosted_settings(replace(decision, records=()), derived)

    def _count(self, outcome: str) -> None:
        if self._on_decision is not None:
            self._on_decision(outcome)

    def rebuilt(
        self, domain: str, answers: dict[Question, RRset]
    ) -> tuple[HostedProvider | None, str]:
        """A hosted domain's settings from answers kept on disk (the settings snapshot),
        decided again under today's ``[hosting]`` policy, without DNS and without spending
        the budget: the settings and "", or None and why today's configuration does not
        serve them (hosting off, now listed, never looked up, not decided so today, or the
        provider's settings, which MX and CNAME customers get, not cached).
        """
        if self.hosting is None or self.decisions is None:
            return None, "[hosting] is off"
        if domain in self._primaries:
            return None, "listed in [domains]"
        problem = hosting.admissible(domain)
        if problem:
            return None, f"never looked up: {problem}"
        decision, derived = hosting.decide(domain, answers, self.hosting)
        if not decision.served:
            return None, "today's [hosting] does not serve it: " + "; ".join(decision.reasons)
        operator = None
        if decision.kind is not Kind.SRV:
            assert self.cache is not None  # the decision cache needs the settings cache
            operator = self.cache.held(self.hosting.provider)
            if operator is None:
                return None, f"the settings of {self.hosting.provider} are not cached"
        # The file kept only the record that decided: the earlier conditions' sentences
        # would describe answers nobody saw.
        reasons = (decision.reasons[-1], SNAPSHOT_REASON)
        decision = replace(decision, records=(), reasons=reasons)
        return self._hosted_settings(decision, derived, operator=operator), ""

    def _hosted_settings(
        self, decision: Decision, derived: Provider | None, *, operator: Served | None = None
    ) -> HostedProvider:
        """What the clients of a decided domain get (the decision cache's value); MX and
        CNAME customers get ``operator`` (by default the provider's settings, through the
        cache)."""
        assert self.hosting is not None
        if decision.kind is Kind.SRV:
            assert derived is not None
            return hosting.hosted(derived, decision, decision.ttl)
        if decision.kind not in (Kind.MX, Kind.CNAME):
            return hosting.unserved(decision)
        # The provider's current settings, relabelled; never kept longer than they are.
        operator = operator or self._settings(self.hosting.provider)
        profile = self.hosting.profile(decision.domain)
        servers = self._servers_for(operator, profile)
        provider = hosting.relabel(operator.provider, decision.domain, profile, servers)
        return hosting.hosted(provider, decision, min(decision.ttl, operator.max_age))

    def _servers_for(
        self, operator: Served, profile: DomainProfile
    ) -> dict[Protocol, tuple[Server, ...]]:
        key = (operator.version, profile.username.value, profile.authentication.value)
        memo = self._relabelled
        if memo is not None and memo[0] == key:
            return memo[1]
        servers = hosting.hosted_servers(operator.provider, profile)
        self._relabelled = (key, servers)
        return servers

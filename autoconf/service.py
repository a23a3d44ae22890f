"""The middle of every request: allow-list, record source, derivation.

Kept free of Flask so the CLI and the web views share exactly the same path; what a client
is told and what ``mail-autoconf check`` prints can therefore never disagree.
"""

from __future__ import annotations

import itertools
import time
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

    def _derive(self, primary: str) -> Provider:
        return self.lookup(primary).provider

    def _uncached(self, primary: str) -> Served:
        provider = self._derive(primary)
        # Negative versions never collide with the cache's, and each lookup gets its own.
        return Served(
            provider=provider,
            version=next(self._uncached_versions),
            max_age=self.settings.cache.lifetime(provider),
        )

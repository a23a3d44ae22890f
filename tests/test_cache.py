"""The provider cache's rules with an injected clock (pure: no DNS, no Flask)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest

from autoconf.cache import STALE_MAX_AGE
from autoconf.cache import CachePolicy
from autoconf.cache import DocumentCache
from autoconf.cache import ProviderCache
from autoconf.errors import DnsUnavailableError
from autoconf.model import Authentication
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import Security
from autoconf.model import Server
from autoconf.model import Username
from tests.doubles import FakeClock

POLICY = CachePolicy(floor=60, cap=3600, negative_cap=300, failure_ttl=5, stale_if_error=600)


def server(protocol: Protocol, port: int) -> Server:
    return Server(
        protocol=protocol,
        host="mail.example.com",
        port=port,
        security=Security.TLS,
        authentication=Authentication.PASSWORD_CLEARTEXT,
        username=Username.EMAILADDRESS,
    )


def provider(ttl: int, *, usable: bool = True, port: int = 993) -> Provider:
    servers = {Protocol.IMAP: (server(Protocol.IMAP, port),)}
    if usable:
        servers[Protocol.SMTP] = (server(Protocol.SMTP, 465),)
    return Provider(
        domain="example.com",
        display_name="Example",
        servers=servers,
        incoming_order=(Protocol.IMAP,),
        ttl=ttl,
    )


class Loader:
    """Returns the next scripted outcome per call: a Provider or an exception to raise."""

    def __init__(self, *outcomes: Provider | Exception) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[str] = []

    def __call__(self, domain: str) -> Provider:
        self.calls.append(domain)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def make(
    *outcomes: Provider | Exception, policy: CachePolicy = POLICY
) -> tuple[ProviderCache, Loader, FakeClock]:
    loader, clock = Loader(*outcomes), FakeClock()
    return ProviderCache(policy, loader, clock=clock), loader, clock


@pytest.mark.parametrize(
    ("ttl", "usable", "expected"),
    [
        (300, True, 300),  # within bounds: the TTL itself
        (2, True, 60),  # floor
        (86400, True, 3600),  # cap
        (0, True, 60),  # no TTL at all still gets the floor
        (120, False, 120),  # negative: SOA-derived TTL (RFC 2308 section 5)
        (3600, False, 300),  # negative answers have their own, lower cap
        (5, False, 60),  # and the same floor
    ],
)
def test_lifetime_is_the_ttl_clamped(ttl: int, usable: bool, expected: int) -> None:
    """Lifetime = TTL clamped to [floor, cap]; negative answers to [floor, negative_cap]."""
    assert POLICY.lifetime(provider(ttl, usable=usable)) == expected


def test_entry_is_served_until_its_lifetime_ends() -> None:
    """Within the lifetime no load happens; at expiry the next get loads a new version."""
    cache, loader, clock = make(provider(300), provider(300, port=994))
    first = cache.get("example.com")
    clock.advance(299)
    again = cache.get("example.com")
    assert (again.version, again.max_age, len(loader.calls)) == (first.version, 1, 1)
    clock.advance(1)
    fresh = cache.get("example.com")
    assert fresh.version != first.version
    assert fresh.provider.of(Protocol.IMAP)[0].port == 994
    assert (fresh.max_age, len(loader.calls)) == (300, 2)


def test_max_age_is_the_remaining_lifetime() -> None:
    """max_age counts down, so a shared cache never keeps an answer past our own expiry."""
    cache, _, clock = make(provider(300))
    assert cache.get("example.com").max_age == 300
    clock.advance(100.5)
    assert cache.get("example.com").max_age == 199


@pytest.mark.parametrize("start", [1000.1, 1000.0, 4000.1])
def test_the_loading_request_gets_the_whole_lifetime(start: float) -> None:
    """The answer that filled the entry announces the full lifetime, whatever the clock
    reads: at 1000.1, (1000.1 + 300) - 1000.1 is a hair under 300 in floating point."""
    clock = FakeClock(start)
    cache = ProviderCache(POLICY, Loader(provider(300)), clock=clock)
    assert cache.get("example.com").max_age == 300


def test_negative_answer_is_cached_for_its_bounded_ttl() -> None:
    """A provider without usable servers is remembered like any answer (RFC 2308)."""
    cache, loader, clock = make(provider(3600, usable=False))
    assert not cache.get("example.com").provider.usable
    clock.advance(299)
    cache.get("example.com")
    assert len(loader.calls) == 1
    clock.advance(1)
    cache.get("example.com")
    assert len(loader.calls) == 2


def test_failure_is_remembered_only_for_failure_ttl() -> None:
    """A failed load without stale data raises, is not retried for failure_ttl, then is."""
    cache, loader, clock = make(DnsUnavailableError("SERVFAIL"), provider(300))
    with pytest.raises(DnsUnavailableError):
        cache.get("example.com")
    clock.advance(4)
    with pytest.raises(DnsUnavailableError) as raised:
        cache.get("example.com")
    assert (raised.value.retry_after, len(loader.calls)) == (1, 1)
    clock.advance(1)
    assert cache.get("example.com").provider.usable
    assert len(loader.calls) == 2


def test_stale_if_error_serves_the_last_good_provider(caplog: pytest.LogCaptureFixture) -> None:
    """RFC 8767: an expired provider is served while refreshes fail, counted and logged."""
    cache, loader, clock = make(provider(300), DnsUnavailableError("timeout"))
    good = cache.get("example.com")
    clock.advance(300)
    with caplog.at_level(logging.WARNING, logger="autoconf.cache"):
        stale = cache.get("example.com")
    assert (stale.version, stale.stale, stale.max_age) == (good.version, True, STALE_MAX_AGE)
    assert "serving settings" in caplog.text
    clock.advance(1)  # within failure_ttl: stale again without a new load
    assert cache.get("example.com").stale
    stats = cache.stats()
    assert (stats.stale_serves, stats.refresh_failures, len(loader.calls)) == (2, 1, 2)


def test_stale_window_ends() -> None:
    """Past ``stale_if_error`` seconds after expiry the failure reaches the caller."""
    cache, _, clock = make(provider(300), DnsUnavailableError("timeout"))
    cache.get("example.com")
    clock.advance(300 + 599)
    assert cache.get("example.com").stale
    clock.advance(5)
    with pytest.raises(DnsUnavailableError):
        cache.get("example.com")


def test_lru_bound_evicts_the_least_recently_used() -> None:
    """With max_entries=3, a fourth domain evicts the one used longest ago."""
    policy = CachePolicy(max_entries=3)
    cache, loader, _ = make(provider(300), policy=policy)
    for domain in ("a.test", "b.test", "c.test", "a.test", "d.test"):
        cache.get(domain)
    assert (len(cache), cache.stats().evictions) == (3, 1)
    cache.get("a.test")  # still cached: it was used after b.test
    cache.get("b.test")  # evicted: loaded again
    assert loader.calls == ["a.test", "b.test", "c.test", "d.test", "b.test"]


class BlockingLoader:
    """A loader that holds every load until released, counting loads."""

    def __init__(self, outcome: Callable[[], Provider]) -> None:
        self.outcome = outcome
        self.release = threading.Event()
        self.started = threading.Event()
        self.loads = 0

    def __call__(self, domain: str) -> Provider:
        self.loads += 1
        self.started.set()
        assert self.release.wait(10)
        return self.outcome()


def test_concurrent_misses_share_one_load() -> None:
    """Single-flight: ten threads missing at once cause one load and get its version."""
    loader = BlockingLoader(lambda: provider(300))
    cache = ProviderCache(POLICY, loader, clock=FakeClock())
    versions: list[int] = []
    threads = [
        threading.Thread(target=lambda: versions.append(cache.get("example.com").version))
        for _ in range(10)
    ]
    for thread in threads:
        thread.start()
    assert loader.started.wait(10)
    loader.release.set()
    for thread in threads:
        thread.join(10)
    assert (loader.loads, len(versions), len(set(versions))) == (1, 10, 1)


def test_expired_entry_is_served_while_one_refresh_runs() -> None:
    """Stale-while-revalidate: during a refresh, other callers get the old provider now."""
    clock = FakeClock()
    loader = BlockingLoader(lambda: provider(300, port=994))
    loader.release.set()
    cache = ProviderCache(POLICY, loader, clock=clock)
    old = cache.get("example.com")
    loader.release.clear()
    clock.advance(300)
    refresher = threading.Thread(target=cache.get, args=("example.com",))
    refresher.start()
    assert loader.started.wait(10)
    during = cache.get("example.com")  # returns at once although the refresh is blocked
    loader.release.set()
    refresher.join(10)
    assert (during.version, during.stale) == (old.version, True)
    assert cache.get("example.com").version != old.version
    assert (loader.loads, cache.stats().revalidation_serves) == (2, 1)


def test_waiters_get_the_failure_of_the_shared_load() -> None:
    """When the one load fails and nothing is stale, every waiter gets a 503 error."""

    def fail() -> Provider:
        raise DnsUnavailableError("SERVFAIL", retry_after=7)

    loader = BlockingLoader(fail)
    cache = ProviderCache(POLICY, loader, clock=FakeClock())
    errors: list[BaseException] = []

    def call() -> None:
        try:
            cache.get("example.com")
        except DnsUnavailableError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for thread in threads:
        thread.start()
    assert loader.started.wait(10)
    loader.release.set()
    for thread in threads:
        thread.join(10)
    assert (loader.loads, len(errors)) == (1, 5)


def test_document_cache_renders_once_per_key_and_is_bounded() -> None:
    """Documents render once per (format, version); the LRU keeps max_entries of them."""
    documents = DocumentCache(2)
    renders: list[int] = []

    def render(version: int) -> Callable[[], bytes]:
        return lambda: renders.append(version) or f"v{version}".encode()

    first = documents.get(("tb", 1), render(1))
    assert documents.get(("tb", 1), render(1)) is first
    documents.get(("tb", 2), render(2))
    documents.get(("tb", 3), render(3))
    documents.get(("tb", 1), render(1))
    assert renders == [1, 2, 3, 1]
    assert first.etag.startswith('"') and first.etag.endswith('"') and len(first.etag) == 34


def test_equal_bodies_have_equal_etags() -> None:
    """The ETag is a hash of the body: a re-render with the same bytes keeps the tag."""
    documents = DocumentCache(0)
    assert documents.get(1, lambda: b"<x/>").etag == documents.get(2, lambda: b"<x/>").etag
    assert documents.get(1, lambda: b"<x/>").etag != documents.get(3, lambda: b"<y/>").etag


def test_observer_is_told_every_event() -> None:
    """A metrics layer sees hit, miss, failure and stale as the counters move."""
    events: list[str] = []
    clock = FakeClock()
    loader = Loader(provider(300), DnsUnavailableError("timeout"))
    cache = ProviderCache(POLICY, loader, clock=clock, observer=events.append)
    cache.get("example.com")
    cache.get("example.com")
    clock.advance(300)
    cache.get("example.com")
    assert events == ["miss", "hit", "miss", "failure", "stale"]
    stats = cache.stats()
    assert (stats.misses, stats.hits, stats.refresh_failures, stats.stale_serves) == (2, 1, 1, 1)


def test_peek_describes_without_touching() -> None:
    """peek() reports fresh / stale / absent and moves no counter and loads nothing."""
    cache, loader, clock = make(provider(300), DnsUnavailableError("timeout"))
    assert cache.peek("example.com") == "not cached in this worker"
    cache.get("example.com")
    clock.advance(100)
    assert cache.peek("example.com") == "fresh in this worker, 200 s left"
    clock.advance(250)
    assert cache.peek("example.com").startswith("stale in this worker for 50 s")
    before = cache.stats()
    cache.peek("example.com")
    assert (cache.stats(), len(loader.calls)) == (before, 1)


def test_a_remembered_failure_keeps_its_class() -> None:
    """A refusal by the hosting budget, remembered for failure_ttl, is raised again as
    what it was (logged and counted as a refusal, not as a DNS outage), with its
    remaining Retry-After; then the loader is asked again."""
    from autoconf.errors import DecisionBudgetError

    cache, loader, clock = make(DecisionBudgetError("spent", retry_after=1), provider(300))
    with pytest.raises(DecisionBudgetError):
        cache.get("example.com")
    clock.advance(2)
    with pytest.raises(DecisionBudgetError) as again:
        cache.get("example.com")
    assert again.value.retry_after == 3 and len(loader.calls) == 1
    clock.advance(3)
    assert cache.get("example.com").provider.usable and len(loader.calls) == 2


def test_versions_can_be_shared_between_caches() -> None:
    """Two caches rendering into one document cache number their loads from one counter."""
    import itertools

    shared = itertools.count(1)
    one = ProviderCache(POLICY, Loader(provider(300)), clock=FakeClock(), versions=shared)
    two = ProviderCache(POLICY, Loader(provider(300)), clock=FakeClock(), versions=shared)
    assert [one.get("a").version, two.get("a").version, one.get("b").version] == [1, 2, 3]

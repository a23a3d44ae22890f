"""The provider cache's rules with an injected clock (pure: no DNS, no Flask)."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

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

#: Refresh-ahead off: these tests are about expiry; refresh-ahead has its own below.
POLICY = CachePolicy(
    floor=60, cap=3600, negative_cap=300, failure_ttl=5, stale_if_error=600, refresh_ahead=0
)


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


# --- refresh-ahead and seeding (warm start) ---------------------------------------------

AHEAD = CachePolicy(
    floor=60, cap=3600, negative_cap=300, failure_ttl=5, stale_if_error=600, refresh_ahead=0.1
)


class ThreadRecordingLoader(Loader):
    """A scripted loader that also notes which thread ran each load."""

    def __init__(self, *outcomes: Provider | Exception) -> None:
        super().__init__(*outcomes)
        self.threads: list[str] = []

    def __call__(self, domain: str) -> Provider:
        self.threads.append(threading.current_thread().name)
        return super().__call__(domain)


def test_refresh_ahead_answers_at_once_and_refreshes_in_the_background() -> None:
    """In the last 10 % of the lifetime a request gets the current entry at once (the
    refresh is blocked meanwhile) and one background refresh replaces it before expiry."""
    clock = FakeClock()
    ports = iter((993, 994))
    loader = BlockingLoader(lambda: provider(300, port=next(ports)))
    loader.release.set()
    cache = ProviderCache(AHEAD, loader, clock=clock)
    first = cache.get("example.com")
    clock.advance(269)
    assert cache.get("example.com").version == first.version
    assert loader.loads == 1  # not yet in the refresh window
    loader.release.clear()
    loader.started.clear()
    clock.advance(1)
    during = cache.get("example.com")  # returns although the refresh is held
    assert loader.started.wait(10)
    assert (during.version, during.stale, during.max_age) == (first.version, False, 30)
    loader.release.set()
    assert cache.settle(10)
    after = cache.get("example.com")
    assert after.version != first.version
    assert (after.provider.of(Protocol.IMAP)[0].port, after.max_age, after.stale) == (
        994,
        300,
        False,
    )
    stats = cache.stats()
    assert (stats.misses, stats.loads, stats.refresh_aheads) == (1, 2, 1)


def test_refresh_ahead_is_one_flight_per_domain() -> None:
    """Many requests in the refresh window while the refresh runs start it once."""
    clock = FakeClock()
    loader = BlockingLoader(lambda: provider(300))
    loader.release.set()
    cache = ProviderCache(AHEAD, loader, clock=clock)
    cache.get("example.com")
    loader.release.clear()
    clock.advance(280)
    for _ in range(20):
        assert not cache.get("example.com").stale
    loader.release.set()
    assert cache.settle(10)
    assert (loader.loads, cache.stats().refresh_aheads) == (2, 1)


def test_failed_refresh_ahead_keeps_the_entry_and_waits_for_failure_ttl() -> None:
    """A background refresh that fails keeps the provider (still fresh, then stale-if-error)
    and is not tried again before failure_ttl; nobody is answered with an error."""
    clock = FakeClock()
    cache = ProviderCache(AHEAD, Loader(provider(300), DnsUnavailableError("timeout")), clock=clock)
    good = cache.get("example.com")
    clock.advance(280)
    cache.get("example.com")  # starts the refresh, which fails
    assert cache.settle(10)
    clock.advance(4)
    kept = cache.get("example.com")  # within failure_ttl: no new refresh
    assert (kept.version, kept.stale) == (good.version, False)
    assert cache.stats().refresh_failures == 1
    clock.advance(1)
    cache.get("example.com")  # failure_ttl over: one new background try
    assert cache.settle(10)
    stats = cache.stats()
    assert (stats.refresh_failures, stats.refresh_aheads, stats.misses) == (2, 2, 1)


def test_negative_answers_are_not_refreshed_ahead() -> None:
    """An entry with no servers at all (RFC 2308 negative answer, a stranger's name that is
    not hosted) lives its lifetime and is asked again only after it; one with servers but
    no usable mail is still refreshed ahead (a DAV-only domain, say)."""
    nothing = Provider(domain="example.com", display_name="Example", ttl=120)
    cache, loader, clock = make(nothing, policy=AHEAD)
    cache.get("example.com")
    clock.advance(119)
    cache.get("example.com")
    assert cache.settle(10)
    assert (len(loader.calls), cache.stats().refresh_aheads) == (1, 0)
    clock.advance(2)
    cache.get("example.com")
    assert len(loader.calls) == 2
    dav_only, loader, clock = make(provider(120, usable=False), policy=AHEAD)
    dav_only.get("example.com")
    clock.advance(115)
    dav_only.get("example.com")
    assert dav_only.settle(10)
    assert (len(loader.calls), dav_only.stats().refresh_aheads) == (2, 1)


def test_refresh_ahead_off_loads_at_expiry_only() -> None:
    """``refresh_ahead = 0``: no background refresh; the request after expiry loads."""
    cache, loader, clock = make(provider(300))
    cache.get("example.com")
    clock.advance(299.9)
    cache.get("example.com")
    assert cache.settle(10)
    assert (len(loader.calls), cache.stats().refresh_aheads) == (1, 0)


@settings(max_examples=60)
@given(
    phases=st.lists(st.floats(min_value=0.0, max_value=0.99), min_size=1, max_size=40),
    ttl=st.integers(min_value=60, max_value=3600),
)
def test_no_request_waits_for_dns_once_answered(phases: list[float], ttl: int) -> None:
    """The property of issue 17: while DNS answers and the domain is asked for at least
    once per refresh window (the last 10 % of its lifetime), every request after the first
    is answered from memory: fresh, never a miss, no load on a request's thread. Random
    gaps (fractions of the window) first, then three lifetimes at 0.9 windows apart."""
    clock = FakeClock()
    loader = ThreadRecordingLoader(provider(ttl))
    cache = ProviderCache(AHEAD, loader, clock=clock)
    window = AHEAD.refresh_ahead * AHEAD.lifetime(provider(ttl))
    steady = [0.9] * math.ceil(3 / AHEAD.refresh_ahead / 0.9)
    cache.get("example.com")
    for phase in [*phases, *steady]:
        clock.advance(phase * window)
        assert not cache.get("example.com").stale
        assert cache.settle(10)  # background refreshes finish well within the window
    me = threading.current_thread().name
    assert (cache.stats().misses, loader.threads.count(me)) == (1, 1)
    assert len(loader.calls) >= 3


def test_seeded_provider_lives_what_is_left_of_its_lifetime() -> None:
    """A provider loaded 100 s ago elsewhere is fresh for the other 200 s, without a load."""
    cache, loader, clock = make(provider(300))
    assert cache.seed("example.com", provider(300, port=995), age=100)
    served = cache.get("example.com")
    assert (served.provider.of(Protocol.IMAP)[0].port, served.max_age, served.stale) == (
        995,
        200,
        False,
    )
    assert loader.calls == []
    assert cache.peek("example.com") == "fresh in this worker (from the snapshot), 200 s left"
    clock.advance(200)
    assert cache.get("example.com").stale  # expired: answered, refreshed behind
    assert cache.settle(10)
    assert cache.get("example.com").provider.of(Protocol.IMAP)[0].port == 993
    assert len(loader.calls) == 1


def test_expired_seed_answers_stale_while_one_refresh_runs() -> None:
    """A seeded provider past its lifetime is answered at once (stale, max-age 30) while
    one background refresh runs; the request never waits for it."""
    events: list[str] = []
    clock = FakeClock()
    loader = BlockingLoader(lambda: provider(300, port=994))
    cache = ProviderCache(POLICY, loader, clock=clock, observer=events.append)
    assert cache.seed("example.com", provider(300), age=400)
    first = cache.get("example.com")  # the load is held: this returns anyway
    assert loader.started.wait(10)
    second = cache.get("example.com")
    assert (first.stale, first.max_age, second.stale) == (True, STALE_MAX_AGE, True)
    loader.release.set()
    assert cache.settle(10)
    fresh = cache.get("example.com")
    assert (fresh.stale, fresh.provider.of(Protocol.IMAP)[0].port) == (False, 994)
    assert loader.loads == 1
    assert events.count("stale_from_snapshot") == 2
    assert "miss" not in events


def test_seeded_service_answers_through_an_outage_without_waiting() -> None:
    """DNS down after a restart: every request gets the seeded settings at once; loads are
    tried in the background at most once per failure_ttl, until the stale window ends."""
    clock = FakeClock()
    loader = ThreadRecordingLoader(DnsUnavailableError("timeout"))
    cache = ProviderCache(POLICY, loader, clock=clock)
    assert cache.seed("example.com", provider(300), age=400)
    for _ in range(10):  # 10 requests a second for 10 s
        for _ in range(10):
            assert cache.get("example.com").stale
            assert cache.settle(10)
        clock.advance(1)
    assert len(loader.calls) == 2  # at 0 s and after failure_ttl (5 s)
    assert threading.current_thread().name not in loader.threads
    clock.advance(600)  # past the stale window: the failure reaches the caller
    with pytest.raises(DnsUnavailableError):
        cache.get("example.com")


def test_seed_keeps_newer_entries_and_never_evicts() -> None:
    """Seeding does not replace a provider loaded more recently, nor evict anything."""
    cache = ProviderCache(CachePolicy(max_entries=2), Loader(provider(300)), clock=FakeClock())
    loaded = cache.get("a.test")
    assert not cache.seed("a.test", provider(300, port=995), age=1)
    assert cache.get("a.test").version == loaded.version
    assert cache.seed("b.test", provider(300), age=1)
    assert not cache.seed("c.test", provider(300), age=1)
    assert (len(cache), cache.stats().evictions) == (2, 0)
    assert not cache.seed("d.test", provider(300), age=300 + 86400)  # beyond stale_if_error


def test_equal_seed_keeps_the_version() -> None:
    """Re-seeding the same settings (another worker's refresh) extends the lifetime but
    keeps the version, so rendered documents are reused."""
    cache, _, clock = make(provider(300))
    cache.seed("example.com", provider(300), age=200)
    before = cache.get("example.com")
    clock.advance(50)
    assert cache.seed("example.com", provider(300), age=10)
    after = cache.get("example.com")
    assert (after.version, after.max_age) == (before.version, 290)


def test_export_lists_ages_most_recently_used_first() -> None:
    """export() gives each provider with its age; expired ones within the stale window
    are included, those past it are not."""
    cache, _, clock = make(provider(300))
    cache.get("a.test")
    clock.advance(10)
    cache.get("b.test")
    cache.seed("c.test", provider(300), age=400)
    cache.seed("d.test", provider(300), age=300 + 600 + 1)  # past the stale window
    clock.advance(5)
    exported = {e.domain: e.age for e in cache.export()}
    assert exported == {"c.test": 405, "b.test": 5, "a.test": 15}
    assert [e.domain for e in cache.export()] == ["c.test", "b.test", "a.test"]


def test_refresh_runs_in_the_caller_and_keeps_the_entry_on_failure() -> None:
    """refresh() (the keeper's call) loads in the calling thread; a failure keeps the
    provider, and it reports whether a new one was stored."""
    cache, _, clock = make(provider(300), DnsUnavailableError("timeout"), provider(300))
    assert cache.refresh("example.com")
    version = cache.get("example.com").version
    clock.advance(100)
    assert not cache.refresh("example.com")
    assert cache.get("example.com").version == version
    freshness = cache.freshness("example.com")
    assert freshness is not None
    assert (freshness.left, freshness.retry_in, freshness.in_flight) == (200, 5, False)
    assert cache.refresh("example.com")
    assert cache.get("example.com").version != version
    assert cache.freshness("unknown.test") is None


def test_after_a_failed_refresh_only_background_refreshes_follow() -> None:
    """During an outage only the first request after expiry waits for DNS; later tries
    (one per failure_ttl) run in the background while requests get the stale provider,
    until one succeeds."""
    clock = FakeClock()
    loader = ThreadRecordingLoader(
        provider(300),
        DnsUnavailableError("timeout"),
        DnsUnavailableError("timeout"),
        provider(300, port=994),
    )
    cache = ProviderCache(POLICY, loader, clock=clock)
    cache.get("example.com")
    clock.advance(300)
    assert cache.get("example.com").stale  # this one waited: nothing was known to fail
    for _ in range(2):
        clock.advance(5)
        assert cache.get("example.com").stale  # answered at once, refreshed behind
        assert cache.settle(10)
    fresh = cache.get("example.com")
    assert (fresh.stale, fresh.provider.of(Protocol.IMAP)[0].port) == (False, 994)
    me = threading.current_thread().name
    assert [name == me for name in loader.threads] == [True, True, False, False]
    assert cache.stats().misses == 2

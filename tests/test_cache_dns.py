"""Cache semantics over live DNS: a real Knot serves the zone, only the clock is ours."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from autoconf.config import settings_from_mapping
from autoconf.dns_source import LiveSource
from autoconf.errors import DnsUnavailableError
from autoconf.errors import NoSettingsError
from autoconf.model import Protocol
from autoconf.service import Discoverer
from tests.conftest import config
from tests.doubles import CountingSource
from tests.doubles import FakeClock
from tests.knot import Knot
from tests.zone_edit import SHORT
from tests.zone_edit import short_imaps_port


def discoverer(knot: Knot, clock: FakeClock, **cache: Any) -> tuple[Discoverer, CountingSource]:
    """A discoverer asking Knot through a counting wrapper, with a low cache floor.

    Refresh-ahead is off unless asked for: most tests here are about expiry itself."""
    mapping = config(nameservers=[knot.nameserver], timeout=0.5)
    mapping["cache"] = {"floor": 0, "refresh_ahead": 0, **cache}
    settings = settings_from_mapping(mapping)
    source = CountingSource(
        LiveSource(nameservers=settings.dns.nameservers, timeout=settings.dns.timeout)
    )
    return Discoverer(settings, source, clock=clock), source


def test_ttl_expiry_picks_up_a_changed_zone(running_knot: Knot) -> None:
    """Until the 2 s TTL ends the cached settings are served; after it, the new zone's."""
    clock = FakeClock()
    finder, source = discoverer(running_knot, clock)
    before = finder.served(SHORT)
    assert before.provider.of(Protocol.IMAP)[0].port == 993
    with short_imaps_port(running_knot, 994):
        clock.advance(1.9)
        assert finder.served(SHORT).provider.of(Protocol.IMAP)[0].port == 993
        clock.advance(0.1)
        after = finder.served(SHORT)
    assert after.provider.of(Protocol.IMAP)[0].port == 994
    assert (after.version != before.version, source.asks) == (True, 2)


def test_stale_if_error_serves_after_knot_stops(knot: Knot) -> None:
    """With Knot stopped, the expired settings are served (stale) and the failure counted."""
    if knot.process is None:
        knot.start()
    clock = FakeClock()
    finder, _ = discoverer(knot, clock)
    good = finder.served(SHORT)
    knot.stop()
    try:
        clock.advance(3)
        stale = finder.served(SHORT)
    finally:
        knot.start()
    assert finder.cache is not None
    assert (stale.provider, stale.stale) == (good.provider, True)
    stats = finder.cache.stats()
    assert (stats.stale_serves, stats.refresh_failures) == (1, 1)


def test_outage_without_stale_data_is_503_and_remembered_briefly(knot: Knot) -> None:
    """A domain never seen before answers DnsUnavailable; failures are not re-asked for
    failure_ttl seconds, and are never cached as "no settings"."""
    if knot.process is None:
        knot.start()
    clock = FakeClock()
    finder, source = discoverer(knot, clock, failure_ttl=5)
    knot.stop()
    try:
        with pytest.raises(DnsUnavailableError):
            finder.served(SHORT)
        clock.advance(4)
        with pytest.raises(DnsUnavailableError):
            finder.served(SHORT)
        assert source.asks == 1
    finally:
        knot.start()
    clock.advance(1)
    assert finder.served(SHORT).provider.usable
    assert source.asks == 2


@pytest.mark.parametrize(("negative_cap", "cached_for"), [(300, 60), (10, 10)])
def test_negative_answer_is_cached(running_knot: Knot, negative_cap: int, cached_for: int) -> None:
    """none.example.test has nothing usable: the 404 is cached for the SOA-derived negative
    TTL (min(SOA TTL, MINIMUM) = 60 s, RFC 2308 section 5), bounded by negative_cap."""
    clock = FakeClock()
    finder, source = discoverer(running_knot, clock, negative_cap=negative_cap)
    for _ in range(3):
        with pytest.raises(NoSettingsError):
            finder.served("none.example.test")
    clock.advance(cached_for - 0.5)
    with pytest.raises(NoSettingsError):
        finder.served("none.example.test")
    assert source.asks == 1
    clock.advance(0.5)
    with pytest.raises(NoSettingsError):
        finder.served("none.example.test")
    assert source.asks == 2


def test_one_refresh_in_flight_per_domain(running_knot: Knot) -> None:
    """Twenty threads asking a cold cache for one domain cause one DNS lookup."""
    finder, source = discoverer(running_knot, FakeClock())
    barrier = threading.Barrier(20)
    versions: list[int] = []

    def ask() -> None:
        barrier.wait(10)
        versions.append(finder.served("example.test").version)

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert (source.asks, len(versions), len(set(versions))) == (1, 20, 1)


def test_lru_bound_holds_over_live_dns(running_knot: Knot) -> None:
    """With max_entries=2, a third domain evicts the least recently used one."""
    finder, source = discoverer(running_knot, FakeClock(), max_entries=2)
    for domain in ("example.test", "pop.example.test", "example.test", "hosted.example.test"):
        finder.served(domain)
    assert finder.cache is not None and len(finder.cache) == 2
    assert source.asks == 3
    finder.served("example.test")  # kept: used after pop.example.test
    finder.served("pop.example.test")  # evicted: asked again
    assert source.asks == 4


def test_aliases_share_the_primary_entry(running_knot: Knot) -> None:
    """alias.test is served from example.test's entry: one lookup for both names."""
    finder, source = discoverer(running_knot, FakeClock())
    assert finder.served("alias.test").version == finder.served("example.test").version
    assert source.asks == 1


def test_disabled_cache_asks_every_time(running_knot: Knot) -> None:
    """[cache] enabled = false: every request is a lookup, with a fresh version each."""
    finder, source = discoverer(running_knot, FakeClock(), enabled=False)
    assert finder.served("example.test").version != finder.served("example.test").version
    assert (finder.cache, source.asks) == (None, 2)

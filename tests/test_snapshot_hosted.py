"""Hosted domains in the settings snapshot: entries of kind "hosted" (the condition that
held and the records it rests on), decided again under today's [hosting] when read, never a
negative decision on disk, bounds that keep the listed entries, and the workers sharing
their decisions through the file. Settings come from the hoster's test zone files (no
network); the clocks are ours. The same over a real Knot and gunicorn: test_warm_hosted.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from autoconf.cache import CachePolicy
from autoconf.config import Settings
from autoconf.config import settings_from_mapping
from autoconf.dns_source import ZoneSource
from autoconf.errors import AutoconfError
from autoconf.errors import SnapshotError
from autoconf.errors import UnknownDomainError
from autoconf.hosting import HostedProvider
from autoconf.hosting import Kind
from autoconf.keeper import Keeper
from autoconf.readiness import Readiness
from autoconf.service import SNAPSHOT_REASON
from autoconf.service import Discoverer
from autoconf.snapshot import FILE_NAME
from autoconf.snapshot import HOSTED
from autoconf.snapshot import LISTED
from autoconf.snapshot import Entry
from autoconf.snapshot import Record
from autoconf.snapshot import SnapshotFile
from autoconf.snapshot import byte_bound
from autoconf.snapshot import decode
from autoconf.snapshot import encode
from autoconf.snapshot import entry_of
from autoconf.snapshot import hosted_entry_of
from autoconf.snapshot import read
from tests.doubles import CountingSource
from tests.doubles import FakeClock

ZONES = Path(__file__).parent / "zones"
ZONE_FILES = [ZONES / "hoster.test.zone", ZONES / "customers.test.zone"]
NOW = 1_800_000_000.0
PROVIDER = "hoster.test"
#: The served customers of customers.test.zone, by the condition that serves them.
SERVED = {
    "own-srv.customers.test": Kind.SRV,
    "mx-only.customers.test": Kind.MX,
    "cname.customers.test": Kind.CNAME,
    "xn--mller-kva.customers.test": Kind.MX,
}
#: Strangers: decided not served (MX elsewhere, a null MX, SRV partly elsewhere, NXDOMAIN).
STRANGERS = (
    "mx-elsewhere.customers.test",
    "null-mx.customers.test",
    "partly.customers.test",
    "nobody-here.customers.test",
)
MAX_HOSTED = 100


def hosting_settings(**hosting: Any) -> Settings:
    return settings_from_mapping(
        {
            "dns": {"zone_files": [str(f) for f in ZONE_FILES]},
            "domains": {PROVIDER: {"display_name": "Hoster Mail"}},
            "hosting": {
                "enabled": True,
                "mail_hosts": ["mail.hoster.test"],
                "provider": PROVIDER,
                "display_name": "{domain} (Hoster Mail)",
                "max_decisions": MAX_HOSTED,
                **hosting,
            },
        }
    )


def worker(settings: Settings | None = None, source: CountingSource | None = None) -> Discoverer:
    return Discoverer(
        settings or hosting_settings(), source or ZoneSource(ZONE_FILES), clock=FakeClock()
    )


def decided() -> Discoverer:
    """A worker that answered every served customer and every stranger once."""
    finder = worker()
    for domain in (*SERVED, *STRANGERS):
        with contextlib.suppress(AutoconfError):
            finder.served(domain)
    return finder


def snapshot_entries(finder: Discoverer) -> list[Entry]:
    """What the worker's keeper writes: listed entries, then its served decisions."""
    assert finder.cache is not None and finder.decisions is not None
    trust = finder.settings.dns.trust
    listed = (entry_of(x, trust, now=NOW) for x in finder.cache.export())
    hosted = (hosted_entry_of(x, now=NOW) for x in finder.decisions.export())
    return [e for e in (*listed, *hosted) if e is not None]


def write(directory: Path, entries: list[Entry]) -> None:
    SnapshotFile(directory, CachePolicy(), max_hosted=MAX_HOSTED).write(entries, now=NOW)


def restarted(directory: Path, settings: Settings | None = None) -> tuple[Discoverer, Keeper]:
    """A fresh worker seeded from ``directory`` five seconds later."""
    finder = worker(settings, CountingSource(ZoneSource(ZONE_FILES)))
    keeper = Keeper(finder, directory, wall=lambda: NOW + 5)
    keeper.load()
    return finder, keeper


def asks(finder: Discoverer) -> int:
    assert isinstance(finder.source, CountingSource)
    return finder.source.asks


# --- the round trip ----------------------------------------------------------------------


def test_every_served_decision_survives_the_round_trip(tmp_path: Path) -> None:
    """Written, read back and decided again: a restarted worker answers each hosted
    customer with the same servers, names and decision, without asking DNS."""
    before = decided()
    write(tmp_path, snapshot_entries(before))
    after, _ = restarted(tmp_path)
    for domain, kind in SERVED.items():
        old, new = before.served(domain), after.served(domain)
        assert isinstance(new.provider, HostedProvider)
        assert new.provider.decision.kind is kind, domain
        assert new.provider.servers == old.provider.servers, domain
        assert new.provider.display_name == f"{domain} (Hoster Mail)"
        assert new.provider.activesync_url == old.provider.activesync_url
        assert not new.stale and new.max_age > 0
        # The page says where the decision came from; the deciding sentence is today's.
        assert new.provider.decision.reasons == (old.provider.decision.reasons[-1], SNAPSHOT_REASON)
    assert asks(after) == 0


def test_entries_name_the_records_that_decided(tmp_path: Path) -> None:
    """The documented form: SRV records and paths, the most preferred MX, the CNAME."""
    write(tmp_path, snapshot_entries(decided()))
    raw = json.loads((tmp_path / FILE_NAME).read_text())
    hosted = {e["domain"]: e for e in raw["entries"] if e["kind"] == HOSTED}
    assert set(hosted) == set(SERVED)
    assert hosted["mx-only.customers.test"] == {
        "kind": "hosted",
        "domain": "mx-only.customers.test",
        "fetched_at": NOW,
        "ttl": 90,
        "decision": "mx",
        "mx": [10, "mx.mail.hoster.test"],
    }
    assert hosted["cname.customers.test"]["cname"] == ["autoconfig", "autoconfig.hoster.test"]
    own = hosted["own-srv.customers.test"]
    assert own["decision"] == "srv" and own["paths"] == {"_caldavs": "/cal/own-srv/"}
    assert ["_imaps", 0, 1, 993, "imap.mail.hoster.test"] in own["srv"]
    # Listed entries first: a byte bound cuts hosted ones.
    kinds = [e["kind"] for e in raw["entries"]]
    assert kinds == sorted(kinds, key=lambda kind: kind != LISTED)


def test_negative_decisions_never_reach_the_disk(tmp_path: Path) -> None:
    """Strangers' names are decided (and cached) but never written, not even their
    names."""
    finder = decided()
    assert finder.decisions is not None
    cached = {x.domain for x in finder.decisions.export()}
    assert set(STRANGERS) <= cached
    write(tmp_path, snapshot_entries(finder))
    text = (tmp_path / FILE_NAME).read_text()
    for stranger in STRANGERS:
        assert stranger.split(".")[0] not in text


def test_hosting_off_skips_hosted_entries_unexamined(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With [hosting] off the listed entries are used, the hosted ones skipped without a
    warning (turning hosting off is no fault of the file)."""
    write(tmp_path, snapshot_entries(decided()))
    off = hosting_settings(enabled=False)
    with caplog.at_level(logging.WARNING, logger="autoconf"):
        finder, _ = restarted(tmp_path, off)
    assert finder.decisions is None
    assert finder.served(PROVIDER).provider.usable
    with pytest.raises(UnknownDomainError):
        finder.served("mx-only.customers.test")
    assert asks(finder) == 0
    assert not caplog.records


# --- today's policy decides ---------------------------------------------------------------


def test_a_decision_todays_policy_would_not_make_is_dropped_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """mail_hosts changed since the file was written: the SRV and MX customers are no
    longer hosted here and are not seeded; the CNAME one (pointing at the provider's own
    name) still is. One warning says how many and why."""
    write(tmp_path, snapshot_entries(decided()))
    moved = hosting_settings(mail_hosts=["mail.elsewhere.test"])
    finder = worker(moved, CountingSource(ZoneSource(ZONE_FILES)))
    events: list[str] = []
    keeper = Keeper(finder, tmp_path, on_event=events.append, wall=lambda: NOW + 5)
    with caplog.at_level(logging.INFO, logger="autoconf"):
        keeper.load()
    assert events == ["snapshot_entries_refused", "snapshot_loaded"]
    assert finder.decisions is not None
    assert {x.domain for x in finder.decisions.export()} == {"cname.customers.test"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "3 entries not used" in warnings[0] and str(tmp_path / FILE_NAME) in warnings[0]
    assert "not under mail.elsewhere.test" in warnings[0]


def test_a_hosted_domain_now_listed_keeps_its_listed_settings(tmp_path: Path) -> None:
    """A customer added to [domains] (or as an alias) since: the hosted entry is skipped
    quietly, the domain is answered as listed."""
    write(tmp_path, snapshot_entries(decided()))
    listed = settings_from_mapping(
        {
            "dns": {"zone_files": [str(f) for f in ZONE_FILES]},
            "domains": {
                PROVIDER: {"display_name": "Hoster Mail", "aliases": ["mx-only.customers.test"]},
                "own-srv.customers.test": {"display_name": "Own"},
            },
            "hosting": {
                "enabled": True,
                "mail_hosts": ["mail.hoster.test"],
                "provider": PROVIDER,
            },
        }
    )
    finder, keeper = restarted(tmp_path, listed)
    assert finder.decisions is not None
    seeded = {x.domain for x in finder.decisions.export()}
    assert seeded == {"cname.customers.test", "xn--mller-kva.customers.test"}
    assert keeper._refused == 0


def test_a_name_never_looked_up_is_dropped(tmp_path: Path) -> None:
    """A host name hosting never asks DNS about (a special-use top-level name, one label)
    is not seeded even though the file names it (RFC 6761)."""
    entries = snapshot_entries(decided())
    mx = next(e for e in entries if e.domain == "mx-only.customers.test")
    odd = [
        Entry(
            kind=HOSTED,
            domain=name,
            fetched_at=NOW,
            ttl=300,
            records=(),
            decision="mx",
            mx=mx.mx,
        )
        for name in ("mail.localhost", "customer.onion", "localdomain")
    ]
    write(tmp_path, entries + odd)
    finder, keeper = restarted(tmp_path)
    assert finder.decisions is not None
    assert {x.domain for x in finder.decisions.export()} == set(SERVED)
    assert keeper._refused == 3


def test_mx_customers_wait_for_the_providers_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot too large for the start budget: a request for an MX customer seeds the
    provider's entry it needs first, from the file, never from DNS."""
    write(tmp_path, snapshot_entries(decided()))
    monkeypatch.setattr("autoconf.keeper.SEED_BUDGET", -1.0)
    finder, keeper = restarted(tmp_path)
    assert finder.decisions is not None and finder.decisions.fallback is not None
    served = finder.served("mx-only.customers.test")
    assert served.provider.usable and not served.stale
    assert asks(finder) == 0
    keeper.step()
    assert finder.decisions.fallback is None
    assert {x.domain for x in finder.decisions.export()} == set(SERVED)
    assert asks(finder) == 0


# --- strict validation --------------------------------------------------------------------


def hosted_file(**changes: Any) -> bytes:
    """The file of :func:`decided` with the MX customer's entry changed."""
    data: dict[str, Any] = json.loads(encode(snapshot_entries(decided()), written_at=NOW))
    entry = next(e for e in data["entries"] if e["domain"] == "mx-only.customers.test")
    entry.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del entry[key]
    return json.dumps(data).encode()


HOSTILE_HOSTED: dict[str, bytes] = {
    "unknown decision": hosted_file(decision="listed"),
    "decision not a string": hosted_file(decision=["mx"]),
    "keys of another decision": hosted_file(cname=["autoconfig", "autoconfig.hoster.test"]),
    "missing record": hosted_file(mx=None),
    "dnssec key": hosted_file(dnssec=False),
    "domain not a host name": hosted_file(domain="customer.test/evil"),
    "domain with CRLF": hosted_file(domain="customer.test\r\nX-Evil: 1"),
    "exchange not a host name": hosted_file(mx=[10, "mx.mail.hoster.test/../x"]),
    "exchange numeric": hosted_file(mx=[10, "10.0.0.1"]),
    "preference out of range": hosted_file(mx=[70000, "mx.mail.hoster.test"]),
    "preference boolean": hosted_file(mx=[True, "mx.mail.hoster.test"]),
    "mx not a pair": hosted_file(mx=[10, "mx.mail.hoster.test", "x"]),
    "cname of another name": hosted_file(
        decision="cname", mx=None, cname=["www", "autoconfig.hoster.test"]
    ),
    "cname target not a host name": hosted_file(
        decision="cname", mx=None, cname=["autoconfig", "autoconfig.hoster.test:8443"]
    ),
    "srv without records": hosted_file(decision="srv", mx=None, srv=[], paths={}),
    "srv with a hostile target": hosted_file(
        decision="srv", mx=None, srv=[["_imaps", 0, 1, 993, "imap.mail.hoster.test@evil"]], paths={}
    ),
    "fetched after writing": hosted_file(fetched_at=NOW + 60),
    "ttl out of range": hosted_file(ttl=1 << 31),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_HOSTED))
def test_hostile_hosted_entry_rejects_the_file_with_one_warning(
    name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A hosted entry that is not what a writer writes means the file is not ours to
    trust: ignored as a whole (like any hostile entry), one warning, the worker starts
    cold."""
    with pytest.raises(SnapshotError):
        decode(HOSTILE_HOSTED[name], now=NOW, policy=CachePolicy(), max_hosted=MAX_HOSTED)
    (tmp_path / FILE_NAME).write_bytes(HOSTILE_HOSTED[name])
    os.chmod(tmp_path / FILE_NAME, 0o600)
    finder = worker()
    events: list[str] = []
    keeper = Keeper(finder, tmp_path, on_event=events.append, wall=lambda: NOW)
    with caplog.at_level(logging.INFO, logger="autoconf"):
        assert keeper.load() == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(tmp_path / FILE_NAME) in warnings[0] and "\r" not in warnings[0]
    assert events == ["snapshot_rejected"]
    assert finder.cache is not None and finder.decisions is not None
    assert len(finder.cache) == len(finder.decisions) == 0


def test_the_untouched_file_passes_the_same_checks() -> None:
    """The counterpart of the rejections: the file as written decodes whole."""
    snapshot = decode(hosted_file(), now=NOW, policy=CachePolicy(), max_hosted=MAX_HOSTED)
    assert {e.domain for e in snapshot.entries if e.kind == HOSTED} == set(SERVED)


# --- bounds --------------------------------------------------------------------------------


def mx_customer(n: int) -> Entry:
    return Entry(
        kind=HOSTED,
        domain=f"c{n}.customers.test",
        fetched_at=NOW - n / 1000,
        ttl=300,
        records=(),
        decision="mx",
        mx=(10, "mx.mail.hoster.test"),
    )


def big_srv_customer(n: int) -> Entry:
    """A hosted entry larger than ENTRY_BYTES (64 records)."""
    return Entry(
        kind=HOSTED,
        domain=f"big{n}.customers.test",
        fetched_at=NOW,
        ttl=300,
        records=tuple(Record("_imaps", 0, w, 993, f"imap{w}.mail.hoster.test") for w in range(64)),
        decision="srv",
    )


def listed(n: int) -> Entry:
    return Entry(
        domain=f"d{n}.example",
        fetched_at=NOW - 100,
        ttl=300,
        records=(Record("_imaps", 0, 1, 993, f"mail.d{n}.example"),),
    )


def test_hosted_entries_are_bounded_by_max_decisions(tmp_path: Path) -> None:
    """At most max_decisions hosted entries (the most recently used), whatever the number
    of writers, and every listed entry stays."""
    policy = CachePolicy(max_entries=5)
    first = SnapshotFile(tmp_path, policy, max_hosted=20)
    second = SnapshotFile(tmp_path, policy, max_hosted=20)
    first.write([listed(n) for n in range(5)] + [mx_customer(n) for n in range(15)], now=NOW)
    second.write([mx_customer(n) for n in range(15, 40)], now=NOW)
    snapshot = read(tmp_path / FILE_NAME, now=NOW, policy=policy, max_hosted=20)
    kinds = [e.kind for e in snapshot.entries]
    assert kinds.count(LISTED) == 5 and kinds.count(HOSTED) == 20
    # A reader with a smaller bound takes the first ones and looks at no more.
    fewer = read(tmp_path / FILE_NAME, now=NOW, policy=policy, max_hosted=3)
    assert [e.kind for e in fewer.entries].count(HOSTED) == 3


def test_hosted_entries_never_push_listed_ones_out_of_the_byte_bound(tmp_path: Path) -> None:
    """Hosted entries filling more than the byte bound: the file stays within it, and the
    entries cut are hosted ones, never listed."""
    policy = CachePolicy(max_entries=10)
    max_hosted = 500
    file = SnapshotFile(tmp_path, policy, max_hosted=max_hosted)
    hosted = [big_srv_customer(n) for n in range(max_hosted)]
    size = file.write(hosted + [listed(n) for n in range(10)], now=NOW)
    assert size <= byte_bound(policy, max_hosted)
    snapshot = read(tmp_path / FILE_NAME, now=NOW, policy=policy, max_hosted=max_hosted)
    kinds = [e.kind for e in snapshot.entries]
    assert kinds.count(LISTED) == 10
    assert 0 < kinds.count(HOSTED) < max_hosted


# --- several writers -----------------------------------------------------------------------


def test_a_domain_that_left_is_withdrawn_from_the_others_entries(tmp_path: Path) -> None:
    """One worker wrote a customer; another has since decided it is not served: its write
    drops the older entry (a restart must not serve a former customer from the file),
    but not a newer one."""
    policy = CachePolicy()
    first = SnapshotFile(tmp_path, policy, max_hosted=MAX_HOSTED)
    second = SnapshotFile(tmp_path, policy, max_hosted=MAX_HOSTED)
    first.write([mx_customer(1), mx_customer(2)], now=NOW)
    second.write(
        [], now=NOW + 1, withdrawn={"c1.customers.test": NOW, "c2.customers.test": NOW - 1}
    )
    snapshot = read(tmp_path / FILE_NAME, now=NOW + 1, policy=policy, max_hosted=9)
    found = {e.domain for e in snapshot.entries}
    assert found == {"c2.customers.test"}


def test_workers_share_their_hosted_decisions_through_the_file(tmp_path: Path) -> None:
    """Any worker decides a hosted domain and writes it; the other worker takes it from the
    file and answers without a decision of its own."""
    first = worker(source=CountingSource(ZoneSource(ZONE_FILES)))
    second = worker(source=CountingSource(ZoneSource(ZONE_FILES)))
    one = Keeper(first, tmp_path, wall=lambda: NOW)
    two = Keeper(second, tmp_path, wall=lambda: NOW + 1)
    try:
        one.step()  # elected: keeps the provider and writes it
        two.step()
        first.served("mx-only.customers.test")
        with pytest.raises(UnknownDomainError):
            first.served("mx-elsewhere.customers.test")
        one._interval = 0.0
        one.step()  # writes the new served decision
        before = asks(second)
        two._interval = 0.0
        two.step()  # re-reads
        served = second.served("mx-only.customers.test")
        assert served.provider.usable
        assert asks(second) == before
        text = (tmp_path / FILE_NAME).read_text()
        assert "mx-only.customers.test" in text and "mx-elsewhere" not in text
    finally:
        one.stop()
        two.stop()


# --- readiness -----------------------------------------------------------------------------


def test_readiness_counts_served_hosted_entries_only(tmp_path: Path) -> None:
    """A worker holding only a hosted customer's settings is ready from its cache; one
    holding only a stranger's "not served" has to ask DNS."""
    write(tmp_path, [e for e in snapshot_entries(decided()) if e.kind == HOSTED])
    finder, _ = restarted(tmp_path)
    # No provider in the file: the MX and CNAME customers could not be rebuilt.
    assert finder.cache is not None and len(finder.cache) == 0
    assert finder.decisions is not None and len(finder.decisions) == 1
    assert Readiness(finder).verdict().basis == "cache"

    stranger = worker()
    with pytest.raises(UnknownDomainError):
        stranger.served("mx-elsewhere.customers.test")
    # Nothing listed cached: only the negative decision is held.
    assert stranger.cache is not None and len(stranger.cache) == 0
    assert stranger.decisions is not None and len(stranger.decisions) == 1
    assert Readiness(stranger).verdict().basis == "dns"

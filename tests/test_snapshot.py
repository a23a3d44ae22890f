"""The settings snapshot file: round trip through the DNS derivation, strict validation of
untrusted content, atomic and bounded writes, sharing a directory. Settings come from the
test zone file (no network); the clocks are ours."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from autoconf.cache import CachePolicy
from autoconf.config import Settings
from autoconf.config import settings_from_mapping
from autoconf.discovery import DomainProfile
from autoconf.discovery import TrustPolicy
from autoconf.dns_source import ZoneSource
from autoconf.errors import AutoconfError
from autoconf.errors import SnapshotError
from autoconf.keeper import Keeper
from autoconf.model import Protocol
from autoconf.model import Username
from autoconf.service import Discoverer
from autoconf.snapshot import FILE_NAME
from autoconf.snapshot import FORMAT
from autoconf.snapshot import LOCK_NAME
from autoconf.snapshot import TEMP_PREFIX
from autoconf.snapshot import Entry
from autoconf.snapshot import Record
from autoconf.snapshot import SnapshotFile
from autoconf.snapshot import byte_bound
from autoconf.snapshot import decode
from autoconf.snapshot import encode
from autoconf.snapshot import entry_of
from autoconf.snapshot import provider_of
from autoconf.snapshot import read
from autoconf.snapshot import state_directory
from tests.conftest import DOMAINS
from tests.conftest import ZONE_FILE
from tests.conftest import config
from tests.doubles import CountingSource
from tests.doubles import FakeClock

NOW = 1_800_000_000.0
POLICY = CachePolicy()


def settings(**extra: Any) -> Settings:
    return settings_from_mapping({**config(zone_files=[str(ZONE_FILE)]), **extra})


def warmed(source: CountingSource | None = None) -> Discoverer:
    """A discoverer whose cache holds every test domain (from the zone file)."""
    mapping = settings()
    finder = Discoverer(mapping, source or ZoneSource([ZONE_FILE]), clock=FakeClock())
    for domain in DOMAINS:
        with contextlib.suppress(AutoconfError):  # broken.test: SERVFAIL
            finder.served(domain, mail=False)
    return finder


def entries_of(finder: Discoverer, trust: TrustPolicy | None = None) -> list[Entry]:
    assert finder.cache is not None
    trust = trust or finder.settings.dns.trust
    made = (entry_of(e, trust, now=NOW) for e in finder.cache.export())
    return [e for e in made if e is not None]


def test_every_served_setting_survives_the_round_trip() -> None:
    """Written, read back and derived again with the same profile and trust policy, every
    cached domain gives the same servers, order, TTL and usability."""
    finder = warmed()
    assert finder.cache is not None
    original = {e.domain: e.provider for e in finder.cache.export()}
    entries = entries_of(finder)
    assert {e.domain for e in entries} == set(original)
    snapshot = decode(encode(entries, written_at=NOW), now=NOW, policy=POLICY)
    assert [e.domain for e in snapshot.entries] == [e.domain for e in entries]
    for entry in snapshot.entries:
        profile = finder.settings.domains[entry.domain]
        again = provider_of(entry, profile, finder.settings.dns.trust)
        before = original[entry.domain]
        assert again is not None, entry.domain
        assert again.servers == before.servers, entry.domain
        assert (again.incoming_order, again.ttl, again.usable) == (
            before.incoming_order,
            before.ttl,
            before.usable,
        ), entry.domain


def test_profile_comes_from_todays_configuration() -> None:
    """Display name, login template and authentication are not in the file: a changed
    configuration applies to settings read from the snapshot."""
    entry = next(e for e in entries_of(warmed()) if e.domain == "example.test")
    profile = DomainProfile(display_name="Renamed", username=Username.EMAILLOCALPART)
    provider = provider_of(entry, profile, settings().dns.trust)
    assert provider is not None
    assert provider.display_name == "Renamed"
    assert {s.username.value for s in provider.incoming} == {"%EMAILLOCALPART%"}


def test_a_target_the_trust_policy_no_longer_accepts_drops_the_entry() -> None:
    """hosted.example.test points at provider.test, trusted by suffix when written; with
    the suffix gone from the configuration the entry is not used."""
    entry = next(e for e in entries_of(warmed()) if e.domain == "hosted.example.test")
    assert any(r.target.endswith("provider.test") for r in entry.records)
    profile = DomainProfile(display_name="Hosted")
    assert provider_of(entry, profile, TrustPolicy()) is None
    assert provider_of(entry, profile, TrustPolicy(trusted_suffixes=("provider.test",)))


def test_dnssec_accepted_targets_are_trusted_again_only_with_dnssec_on() -> None:
    """A target accepted on the AD bit alone is written with dnssec=true; read back it is
    accepted while dns.dnssec is on, and drops the entry once it is off."""
    finder = warmed()
    assert finder.cache is not None
    hosted = next(e for e in finder.cache.export() if e.domain == "hosted.example.test")
    entry = entry_of(hosted, TrustPolicy(accept_dnssec=True), now=NOW)
    assert entry is not None and entry.dnssec
    profile = DomainProfile(display_name="Hosted")
    assert provider_of(entry, profile, TrustPolicy(accept_dnssec=True)) is not None
    assert provider_of(entry, profile, TrustPolicy()) is None


def test_file_is_written_atomically_with_restrictive_permissions(tmp_path: Path) -> None:
    """The directory is created 0700, the file is 0600, no temporary file is left, and a
    temporary file of a writer that died mid-write is cleared."""
    directory = tmp_path / "state"
    file = SnapshotFile(directory, POLICY)
    assert file.write(entries_of(warmed()), now=NOW) > 0
    (directory / f"{TEMP_PREFIX}dead.tmp").write_text("half a snapshot")
    file.write(entries_of(warmed()), now=NOW + 1)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / FILE_NAME).stat().st_mode) == 0o600
    assert {p.name for p in directory.iterdir()} == {LOCK_NAME, FILE_NAME}
    text = (directory / FILE_NAME).read_text()
    head = json.loads(text)
    assert (head["format"], head["version"], head["written_at"]) == (FORMAT, 1, NOW + 1)
    assert len(text.splitlines()) == len(head["entries"]) + 2  # one entry per line


def test_write_is_bounded_in_entries_and_bytes(tmp_path: Path) -> None:
    """At most max_entries entries, most recently used first, and at most the byte bound."""
    entries = [
        Entry(
            domain=f"d{n}.example",
            fetched_at=NOW,
            ttl=300,
            records=tuple(Record("_imaps", 0, w, 993, f"imap{w}.d{n}.example") for w in range(60)),
        )
        for n in range(40)
    ]
    small = CachePolicy(max_entries=30)
    file = SnapshotFile(tmp_path, small)
    size = file.write(entries, now=NOW)
    assert size <= byte_bound(small)
    kept = read(tmp_path / FILE_NAME, now=NOW, policy=small).entries
    assert 0 < len(kept) <= 30
    assert [e.domain for e in kept] == [e.domain for e in entries[: len(kept)]]


def test_two_writers_sharing_a_directory_keep_each_others_entries(tmp_path: Path) -> None:
    """Another service's entries are kept (newest wins per domain); each write leaves a
    complete, valid file."""
    first, second = SnapshotFile(tmp_path, POLICY), SnapshotFile(tmp_path, POLICY)
    a = Entry(domain="a.example", fetched_at=NOW - 10, ttl=300, records=())
    b = Entry(domain="b.example", fetched_at=NOW - 10, ttl=300, records=())
    newer_a = Entry(domain="a.example", fetched_at=NOW - 1, ttl=60, records=())
    first.write([a], now=NOW)
    second.write([b, newer_a], now=NOW)
    first.write([a], now=NOW + 1)  # its a.example is older than the other service's
    found = {e.domain: e for e in read(tmp_path / FILE_NAME, now=NOW, policy=POLICY).entries}
    assert set(found) == {"a.example", "b.example"}
    assert found["a.example"].ttl == 60


# --- rejected files ----------------------------------------------------------------------


def good_file() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(encode(entries_of(warmed()), written_at=NOW))
    return data


def with_entry(**changes: Any) -> bytes:
    data = good_file()
    data["entries"][0].update(changes)
    return json.dumps(data).encode()


HOSTILE: dict[str, bytes] = {
    "corrupt": b"\x00\x01garbage{",
    "truncated": encode([], written_at=NOW)[:-20],
    "empty": b"",
    "foreign JSON": b'{"name": "some other program", "entries": []}',
    "foreign list": b"[1, 2, 3]",
    "newer format": json.dumps({**good_file(), "version": 2}).encode(),
    "extra key": json.dumps({**good_file(), "more": 1}).encode(),
    "too old": json.dumps({**good_file(), "written_at": NOW - 3600 - 86400 - 1}).encode(),
    "from the future": json.dumps({**good_file(), "written_at": NOW + 3600}).encode(),
    "ttl as text": with_entry(ttl="300"),
    "negative ttl": with_entry(ttl=-1),
    "boolean port": with_entry(srv=[["_imaps", 0, 1, True, "mail.example.test"]]),
    "port out of range": with_entry(srv=[["_imaps", 0, 1, 70000, "mail.example.test"]]),
    "URL-moving target": with_entry(srv=[["_imaps", 0, 1, 993, "evil.org/.example.test"]]),
    "escaped octet": with_entry(srv=[["_imaps", 0, 1, 993, "mail\\010.example.test"]]),
    "numeric last label": with_entry(srv=[["_imaps", 0, 1, 993, "mail.1"]]),
    "fake A-label": with_entry(srv=[["_imaps", 0, 1, 993, "xn--abc.example.test"]]),
    "cleartext DAV label": with_entry(srv=[["_caldav", 0, 1, 80, "dav.example.test"]]),
    "unknown label": with_entry(srv=[["_http", 0, 1, 80, "www.example.test"]]),
    "short record": with_entry(srv=[["_imaps", 0, 993, "mail.example.test"]]),
    "path with CRLF": with_entry(
        srv=[["_caldavs", 0, 1, 443, "dav.example.test"]],
        paths={"_caldavs": "/dav/\r\nSet-Cookie: x=y"},
    ),
    "path for a label without records": with_entry(paths={"_carddavs": "/card/"}),
    "fetched after writing": with_entry(fetched_at=NOW + 60),
    "infinite time": with_entry(fetched_at=1e999),
    "NaN": encode([], written_at=NOW).replace(b'"written_at":', b'"written_at":NaN,"x":'),
    "deep nesting": b'{"format":"autoconf-settings-snapshot","version":1,"entries":'
    + b"[" * 100_000
    + b"]" * 100_000
    + b"}",
}


def test_hostile_domain_is_rejected_or_never_looked_at() -> None:
    """A writer's merge validates every domain; a worker skips entries of domains it does
    not serve without looking at them (they are never used)."""
    data = json.dumps(json.loads(with_entry(domain="example.test/evil"))).encode()
    with pytest.raises(SnapshotError, match="not a host name"):
        decode(data, now=NOW, policy=POLICY)
    snapshot = decode(data, now=NOW, policy=POLICY, served=settings().domains)
    assert snapshot.skipped == 1
    assert "example.test/evil" not in {e.domain for e in snapshot.entries}


def test_duplicate_domain_is_rejected() -> None:
    data = good_file()
    data["entries"].append(data["entries"][0])
    with pytest.raises(SnapshotError, match="twice"):
        decode(json.dumps(data).encode(), now=NOW, policy=POLICY)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_unusable_file_is_ignored_with_one_warning(
    name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Corrupt, truncated, foreign, too old, wrongly typed or hostile: the worker starts
    cold (nothing seeded), with exactly one warning line naming the file, never a crash."""
    (tmp_path / FILE_NAME).write_bytes(HOSTILE[name])
    os.chmod(tmp_path / FILE_NAME, 0o600)
    finder = Discoverer(settings(), ZoneSource([ZONE_FILE]), clock=FakeClock())
    events: list[str] = []
    keeper = Keeper(finder, tmp_path, on_event=events.append, wall=lambda: NOW)
    with caplog.at_level(logging.INFO, logger="autoconf"):
        assert keeper.load() == 0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert str(tmp_path / FILE_NAME) in warnings[0].getMessage()
    assert "\r" not in warnings[0].getMessage()
    assert events == ["snapshot_rejected"]
    assert finder.cache is not None and len(finder.cache) == 0


def test_good_file_passes_the_same_checks(tmp_path: Path) -> None:
    """The counterpart of the rejections: an untouched file seeds every entry."""
    (tmp_path / FILE_NAME).write_text(json.dumps(good_file()))
    os.chmod(tmp_path / FILE_NAME, 0o600)
    finder = Discoverer(settings(), ZoneSource([ZONE_FILE]), clock=FakeClock())
    events: list[str] = []
    keeper = Keeper(finder, tmp_path, on_event=events.append, wall=lambda: NOW)
    assert keeper.load() == len(good_file()["entries"])
    assert events == ["snapshot_loaded"]


@pytest.mark.parametrize(
    ("name", "mode", "reason"),
    [("group-writable", 0o620, "writable by others"), ("world-writable", 0o606, "writable")],
)
def test_file_others_may_write_is_not_trusted(
    name: str, mode: int, reason: str, tmp_path: Path
) -> None:
    path = tmp_path / FILE_NAME
    path.write_text(json.dumps(good_file()))
    os.chmod(path, mode)
    with pytest.raises(SnapshotError, match=reason):
        read(path, now=NOW, policy=POLICY)


def test_symbolic_link_and_special_files_are_not_read(tmp_path: Path) -> None:
    """A link planted in the directory is not followed; a FIFO is not waited on."""
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps(good_file()))
    os.chmod(target, 0o600)
    (tmp_path / FILE_NAME).symlink_to(target)
    with pytest.raises(SnapshotError, match="cannot open"):
        read(tmp_path / FILE_NAME, now=NOW, policy=POLICY)
    (tmp_path / FILE_NAME).unlink()
    os.mkfifo(tmp_path / FILE_NAME, 0o600)
    with pytest.raises(SnapshotError, match="not a regular file"):
        read(tmp_path / FILE_NAME, now=NOW, policy=POLICY)


def test_file_above_the_byte_bound_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    small = CachePolicy(max_entries=1)
    path.write_bytes(b" " * (byte_bound(small) + 1))
    os.chmod(path, 0o600)
    with pytest.raises(SnapshotError, match="more than the bound"):
        read(path, now=NOW, policy=small)


def test_entries_of_unknown_kinds_and_unserved_domains_are_skipped(tmp_path: Path) -> None:
    """A newer writer's kinds and another service's domains are skipped, not rejected."""
    data = good_file()
    data["entries"].append({"kind": "future", "anything": ["a", 1]})
    data["entries"].append({**data["entries"][0], "domain": "elsewhere.example"})
    snapshot = decode(json.dumps(data).encode(), now=NOW, policy=POLICY)
    assert snapshot.skipped == 1
    (tmp_path / FILE_NAME).write_text(json.dumps(data))
    os.chmod(tmp_path / FILE_NAME, 0o600)
    finder = Discoverer(settings(), ZoneSource([ZONE_FILE]), clock=FakeClock())
    keeper = Keeper(finder, tmp_path, wall=lambda: NOW)
    assert keeper.load() == len(data["entries"]) - 2


def test_seeded_settings_answer_without_a_lookup(tmp_path: Path) -> None:
    """A worker started from the snapshot answers every written domain from memory: the
    record source is not asked at all."""
    SnapshotFile(tmp_path, POLICY).write(entries_of(warmed()), now=NOW)
    source = CountingSource(ZoneSource([ZONE_FILE]))
    finder = Discoverer(settings(), source, clock=FakeClock())
    Keeper(finder, tmp_path, wall=lambda: NOW + 5).load()
    served = finder.served("example.test")
    assert (served.stale, served.max_age) == (False, 60 - 5)
    assert served.provider.of(Protocol.IMAP)[0].host == "mail.example.test"
    assert finder.served("alias.test").version == served.version
    assert source.asks == 0


def test_entries_beyond_the_start_budget_are_used_without_dns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot too large to derive within the start budget: the rest waits in memory; a
    request for one of those domains is answered from it (no lookup), and the keeper's
    thread derives the others."""
    SnapshotFile(tmp_path, POLICY).write(entries_of(warmed()), now=NOW)
    monkeypatch.setattr("autoconf.keeper.SEED_BUDGET", -1.0)
    source = CountingSource(ZoneSource([ZONE_FILE]))
    finder = Discoverer(settings(), source, clock=FakeClock())
    keeper = Keeper(finder, tmp_path, wall=lambda: NOW + 5)
    assert keeper.load() == 0
    assert finder.cache is not None and finder.cache.fallback is not None
    assert not finder.served("pop.example.test").stale
    assert source.asks == 0
    keeper.step()
    assert finder.cache.fallback is None
    assert len(finder.cache) == len(good_file()["entries"])
    assert finder.served("example.test").provider.usable
    assert source.asks == 0


def test_state_directory_prefers_systemd(tmp_path: Path) -> None:
    """$STATE_DIRECTORY (its first entry) wins over [state] directory; without either, or
    with the snapshot or the cache off, there is none."""
    configured = settings(state={"directory": str(tmp_path)})
    assert state_directory(configured, {}) == tmp_path
    assert state_directory(configured, {"STATE_DIRECTORY": "/var/lib/a:/var/lib/b"}) == Path(
        "/var/lib/a"
    )
    assert state_directory(settings(), {}) is None
    off = settings(state={"directory": str(tmp_path), "snapshot": False})
    assert state_directory(off, {"STATE_DIRECTORY": "/var/lib/a"}) is None
    uncached = settings(state={"directory": str(tmp_path)}, cache={"enabled": False})
    assert state_directory(uncached, {}) is None

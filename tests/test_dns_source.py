"""The dnspython adapter against a real Knot DNS: answers, absence, failure, transport."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from autoconf.dns_source import LiveSource
from autoconf.dns_source import ZoneSource
from autoconf.model import RRset
from autoconf.model import SrvRecord
from autoconf.model import Status
from tests.conftest import ZONE_FILE
from tests.knot import Knot


def ask_one(source: LiveSource | ZoneSource, name: str, rdtype: str = "SRV") -> RRset:
    return source.ask([(name, rdtype)])[(name, rdtype)]


@pytest.fixture(name="live")
def fixture_live(running_knot: Knot) -> LiveSource:
    """A live source asking the test Knot."""
    return LiveSource(nameservers=[(running_knot.address, running_knot.port)], timeout=2.0)


@pytest.fixture(name="silent_port")
def fixture_silent_port() -> Iterator[int]:
    """A UDP port that receives queries and never answers (a black-holed resolver)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_srv_answer(live: LiveSource) -> None:
    """An SRV RRset comes back with its records, TTL and no AD bit (unsigned, direct)."""
    rrset = ask_one(live, "_imaps._tcp.example.test.")
    assert rrset.status is Status.ANSWER
    assert rrset.srv == (SrvRecord(priority=0, weight=1, port=993, target="mail.example.test"),)
    assert 0 < rrset.ttl <= 300
    assert rrset.authenticated is False


def test_root_target_means_not_offered(live: LiveSource) -> None:
    """A '.' target is reported as the empty target, i.e. not offered."""
    (record,) = ask_one(live, "_imap._tcp.example.test.").srv
    assert record.not_offered and record.port == 0


def test_txt_path(live: LiveSource) -> None:
    """TXT strings are decoded and joined."""
    assert ask_one(live, "_caldavs._tcp.example.test.", "TXT").txt == ("path=/dav/cal/",)


def test_nxdomain_with_negative_ttl(live: LiveSource) -> None:
    """A missing name is NXDOMAIN with the RFC 2308 TTL min(SOA TTL, SOA MINIMUM) = 60."""
    rrset = ask_one(live, "_pop3._tcp.weights.example.test.")
    assert rrset.status is Status.NXDOMAIN
    assert rrset.ttl == 60


def test_nodata(live: LiveSource) -> None:
    """An existing name without the asked type is NODATA, not NXDOMAIN."""
    rrset = ask_one(live, "_caldavs._tcp.example.test.", "CNAME")
    assert rrset.status is Status.NODATA
    assert rrset.ttl == 60


def test_cname_is_visible(live: LiveSource) -> None:
    """A CNAME question on an alias answers with the canonical name (for lint)."""
    rrset = ask_one(live, "alias.cname.example.test.", "CNAME")
    assert rrset.status is Status.ANSWER
    assert rrset.rdata == ("mail.example.test.",)


def test_servfail_is_failure_not_absence(live: LiveSource) -> None:
    """Knot answers SERVFAIL for a zone that failed to load: FAILED, never NXDOMAIN."""
    rrset = ask_one(live, "_imaps._tcp.broken.test.")
    assert rrset.status is Status.FAILED
    assert rrset.error


def test_refused_is_failure(live: LiveSource) -> None:
    """A name Knot is not authoritative for is REFUSED: FAILED as well."""
    assert ask_one(live, "_imaps._tcp.elsewhere.invalid.").status is Status.FAILED


def test_timeout_is_bounded(silent_port: int) -> None:
    """A server that never answers costs about the configured timeout, then FAILED."""
    source = LiveSource(nameservers=[("127.0.0.1", silent_port)], timeout=0.5)
    started = time.monotonic()
    rrset = ask_one(source, "_imaps._tcp.example.test.")
    elapsed = time.monotonic() - started
    assert rrset.status is Status.FAILED
    assert "timeout" in rrset.error.lower() or "lifetime" in rrset.error.lower()
    assert 0.4 < elapsed < 1.5


def test_questions_run_concurrently(silent_port: int) -> None:
    """Fourteen questions to a silent server take about one timeout, not fourteen."""
    source = LiveSource(nameservers=[("127.0.0.1", silent_port)], timeout=0.5)
    questions = [(f"_q{i}._tcp.example.test.", "SRV") for i in range(14)]
    started = time.monotonic()
    answers = source.ask(questions)
    assert time.monotonic() - started < 2.0
    assert {a.status for a in answers.values()} == {Status.FAILED}
    assert source.queries_sent == 14


def test_large_rrset_falls_back_to_tcp(live: LiveSource) -> None:
    """40 SRV records do not fit in 512 bytes: dnspython retries over TCP transparently."""
    rrset = ask_one(live, "_imaps._tcp.big.example.test.")
    assert rrset.status is Status.ANSWER
    assert len(rrset.srv) == 40


def test_zone_source_agrees_with_knot(live: LiveSource) -> None:
    """The zone file read directly gives the same answers Knot serves from it."""
    zone = ZoneSource([ZONE_FILE])
    names = [
        ("_imaps._tcp.weights.example.test.", "SRV"),
        ("_pop3._tcp.example.test.", "SRV"),
        ("_caldavs._tcp.example.test.", "TXT"),
        ("_imaps._tcp.big.example.test.", "SRV"),
        ("nothing.example.test.", "SRV"),
        ("_tcp.example.test.", "SRV"),
    ]
    from_zone, from_knot = zone.ask(names), live.ask(names)
    for question in names:
        assert from_zone[question].status == from_knot[question].status, question
        assert sorted(from_zone[question].srv, key=repr) == sorted(
            from_knot[question].srv, key=repr
        )
        assert from_zone[question].txt == from_knot[question].txt


def test_zone_source_follows_cname() -> None:
    """Within the zone files a CNAME owner is followed to its target's records."""
    zone = ZoneSource([ZONE_FILE])
    assert ask_one(zone, "alias.cname.example.test.", "CNAME").rdata == ("mail.example.test.",)
    assert ask_one(zone, "outside.invalid.").status is Status.NXDOMAIN

"""Always warm (issue 17), end to end: gunicorn exactly as shipped, answers from a real Knot,
the settings snapshot in a real state directory.

No assertion here is about latency: whether a request waited for DNS is read from its
request log line (``"cache": "hit"`` is an answer from memory; "miss" waited for a lookup)
and from Knot's own query counters.
"""

from __future__ import annotations

import http.client
import json
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from autoconf.cache import CachePolicy
from autoconf.config import settings_from_mapping
from autoconf.errors import SnapshotError
from autoconf.keeper import Keeper
from autoconf.service import Discoverer
from autoconf.snapshot import FILE_NAME
from autoconf.snapshot import TEMP_PREFIX
from autoconf.snapshot import read
from autoconf.sources import make_source
from tests.conftest import DOMAINS
from tests.conftest import config
from tests.doubles import CountingSource
from tests.doubles import FakeClock
from tests.knot import Knot
from tests.pox import POX_PATH
from tests.pox import XML
from tests.pox import activesync_body
from tests.pox import outlook_body
from tests.servers import Server
from tests.servers import deployed_gunicorn
from tests.slow_dns import SlowRelay
from tests.test_health import metric
from tests.zone_edit import SHORT
from tests.zone_edit import short_imaps_port

pytestmark = pytest.mark.gunicorn

ADDRESS = "alice@example.test"
#: Every served test domain but broken.test, whose zone never loads (nothing to keep).
ANSWERING = {d: v for d, v in DOMAINS.items() if d != "broken.test"}


def mapping(nameserver: str, domains: dict[str, Any] | None = None, **cache: Any) -> Any:
    data = config(nameservers=[nameserver], timeout=1.0)
    data["domains"] = domains or ANSWERING
    data["cache"] = cache
    return data


def workdir(tmp_path: Path, name: str) -> Path:
    (tmp_path / name).mkdir()
    return tmp_path / name


def state_env(directory: Path, workers: int = 1) -> dict[str, str]:
    return {"STATE_DIRECTORY": str(directory), "AUTOCONF_WORKERS": str(workers)}


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def snapshot_domains(directory: Path) -> set[str]:
    try:
        snapshot = read(directory / FILE_NAME, now=time.time(), policy=CachePolicy())
    except (FileNotFoundError, SnapshotError):
        return set()
    return {entry.domain for entry in snapshot.entries}


def request_lines(server: Server) -> list[dict[str, Any]]:
    """The service's per-request log lines (JSON) for a domain, in order (not the start-up
    probe, which asks for the host 127.0.0.1, nor /metrics or /readyz)."""
    lines = []
    for text in server.log.splitlines():
        if text.startswith("{") and '"autoconf.request"' in text:
            line = json.loads(text)
            if line["domain"] not in ("", "127.0.0.1") and line["format"] != "health":
                lines.append(line)
    return lines


def with_host(server: Server, path: str, host: str) -> tuple[int, dict[str, str], bytes]:
    """A GET with its own Host header (urllib would resolve that name)."""
    url = urlsplit(server.url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def every_format(server: Server) -> dict[str, tuple[int, dict[str, str], bytes]]:
    """One request per client format and the diagnostics page."""
    v2 = f"/autodiscover/autodiscover.json?Email={ADDRESS}&Protocol=AutodiscoverV1"
    return {
        "thunderbird": server.get(f"/mail/config-v1.1.xml?emailaddress={ADDRESS}"),
        "pox": server.get(POX_PATH, {"Content-Type": XML}, outlook_body(ADDRESS)),
        "mobilesync": server.get(POX_PATH, {"Content-Type": XML}, activesync_body(ADDRESS)),
        "v2": server.get(v2),
        "apple": server.get(f"/mobileconfig?emailaddress={ADDRESS}"),
        "dav": with_host(server, "/.well-known/caldav", "example.test"),
        "page": server.get(f"/?address={ADDRESS}"),
    }


def test_restart_during_dns_outage_answers_every_format_from_the_snapshot(
    knot: Knot, tmp_path: Path
) -> None:
    """Warm up, stop the service, stop Knot, start the service again: every format gets
    the same answer, marked stale (max-age 30, RFC 8767), counted, no request waiting."""
    if knot.process is None:
        knot.start()
    state = tmp_path / "state"
    # A 2 s cap: everything in the snapshot has expired by the restart, so it is stale.
    settings = mapping(knot.nameserver, floor=0, cap=2)
    with deployed_gunicorn(settings, workdir(tmp_path, "a"), env=state_env(state)) as first:
        before = every_format(first)
        wait_until(lambda: set(ANSWERING) <= snapshot_domains(state), "the snapshot")
    assert {name: status for name, (status, _, _) in before.items()} == {
        "thunderbird": 200,
        "pox": 200,
        "mobilesync": 200,
        "v2": 200,
        "apple": 200,
        "dav": 307,
        "page": 200,
    }
    knot.stop()
    # Wait until even the newest entry is past its 2 s lifetime, so all are served stale.
    newest = max(
        e.fetched_at for e in read(state / FILE_NAME, now=time.time(), policy=CachePolicy()).entries
    )
    time.sleep(max(0.0, newest + 2.5 - time.time()))
    try:
        with deployed_gunicorn(settings, workdir(tmp_path, "b"), env=state_env(state)) as second:
            during = every_format(second)
            text = second.get("/metrics")[2].decode()
            lines = request_lines(second)
    finally:
        knot.start()
    for name in ("thunderbird", "pox", "mobilesync", "v2", "apple", "dav"):
        assert during[name][0] == before[name][0], name
        assert during[name][2] == before[name][2], name
    assert during["page"][0] == 200
    assert b"mail.example.test" in during["page"][2]
    assert "max-age=30" in during["thunderbird"][1]["Cache-Control"]
    assert "max-age=30" in during["dav"][1]["Cache-Control"]
    assert metric(text, "autoconf_warm_events_total", event="snapshot_loaded") >= 1
    assert metric(text, "autoconf_warm_events_total", event="stale_from_snapshot") >= 7
    # Everything answered from the snapshot; no client waited for the dead DNS server.
    answered = [line["cache"] for line in lines]
    assert len(answered) == 7 and set(answered) == {"stale"}, answered


def test_recycled_worker_answers_warm(knot: Knot, tmp_path: Path) -> None:
    """max_requests recycles the only worker mid-run: the new one answers its first
    requests from the snapshot (request log: hits only) and Knot sees no query at all."""
    if knot.process is None:
        knot.start()
    state = tmp_path / "state"
    settings = mapping(knot.nameserver, floor=600, cap=3600)
    recycle = ("--max-requests", "8", "--max-requests-jitter", "0")
    with deployed_gunicorn(settings, tmp_path, env=state_env(state), extra_args=recycle) as server:
        wait_until(lambda: set(ANSWERING) <= snapshot_domains(state), "the snapshot")
        queries = knot.queries()
        domains = sorted(d for d in ANSWERING if d != "none.example.test")
        for n in range(24):
            domain = domains[n % len(domains)]
            status, _, _ = server.get(f"/mail/config-v1.1.xml?emailaddress=bob@{domain}")
            assert status in (200, 404), domain
        assert knot.queries() == queries
        lines = request_lines(server)
    pids = list(dict.fromkeys(line["pid"] for line in lines))
    assert len(pids) >= 3, "the worker was not recycled"
    later = [line for line in lines if line["pid"] != pids[0]]
    assert later and {line["cache"] for line in later} == {"hit"}, later
    assert "entries seeded" in server.log
    # The master made the state directory, private to the service, and said so.
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert f"settings snapshot: {state / FILE_NAME}" in server.log


def test_zone_change_is_picked_up_without_any_request_waiting(
    running_knot: Knot, tmp_path: Path
) -> None:
    """DNS made slow (1 s per round trip) and the zone changed under steady traffic: the
    new port is served within a lifetime, and every request after the first one was
    answered from memory: refresh-ahead did every lookup in the background."""
    with SlowRelay((running_knot.address, running_knot.port), delay=1.0) as relay:
        # A 10 s lifetime, refreshed in its last 5 s (2 s TTL raised by the floor).
        settings = mapping(relay.nameserver, floor=10, cap=10, refresh_ahead=0.5)
        settings["dns"]["timeout"] = 3.0
        with deployed_gunicorn(settings, tmp_path, env={"AUTOCONF_WORKERS": "1"}) as server:
            path = f"/mail/config-v1.1.xml?emailaddress=bob@{SHORT}"
            assert b"<port>993</port>" in server.get(path)[2]
            seen_new, deadline = False, time.monotonic() + 40
            with short_imaps_port(running_knot, 994):
                while time.monotonic() < deadline and not seen_new:
                    seen_new = b"<port>994</port>" in server.get(path)[2]
                    time.sleep(0.2)
            text = server.get("/metrics")[2].decode()
            lines = request_lines(server)
    assert seen_new
    events = [line["cache"] for line in lines]
    assert events[0] == "miss"
    assert set(events[1:]) == {"hit"}, events
    assert metric(text, "autoconf_warm_events_total", event="refresh_ahead") >= 1


def test_two_services_sharing_a_state_directory_do_not_corrupt_it(
    running_knot: Knot, tmp_path: Path
) -> None:
    """Two services with different domains write one state directory for several seconds:
    every read in between finds a complete, valid file; in the end it holds both services'
    domains, private to the service, with no temporary file left behind."""
    state = tmp_path / "state"
    names = sorted(ANSWERING)
    first = {d: ANSWERING[d] for d in names[: len(names) // 2 + 1]}
    second = {d: ANSWERING[d] for d in names[len(names) // 2 :]}
    # Lifetimes of 2 s: each keeper refreshes and rewrites the file about every second.
    errors: list[str] = []
    reads = 0
    stop = threading.Event()

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            try:
                read(state / FILE_NAME, now=time.time(), policy=CachePolicy())
                reads += 1
            except FileNotFoundError:
                pass
            except SnapshotError as exc:
                errors.append(exc.detail)
            time.sleep(0.005)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        with (
            deployed_gunicorn(
                mapping(running_knot.nameserver, first, floor=0, cap=2),
                workdir(tmp_path, "a"),
                env=state_env(state, workers=2),
            ),
            deployed_gunicorn(
                mapping(running_knot.nameserver, second, floor=0, cap=2),
                workdir(tmp_path, "b"),
                env=state_env(state, workers=2),
            ),
        ):
            wait_until(lambda: set(ANSWERING) <= snapshot_domains(state), "both services")
            time.sleep(4)  # several more rounds of writes by both
    finally:
        stop.set()
        thread.join(10)
    assert errors == []
    assert reads > 50
    assert set(ANSWERING) <= snapshot_domains(state)
    assert stat.S_IMODE((state / FILE_NAME).stat().st_mode) == 0o600
    assert not list(state.glob(f"{TEMP_PREFIX}*"))
    assert len(list(state.glob("keeper-*.lock"))) == 2  # one keeper per service


def test_one_keeper_per_host_the_other_workers_take_its_refreshes(
    running_knot: Knot, tmp_path: Path
) -> None:
    """Two workers of one service: one becomes the keeper and asks DNS; the other takes
    everything from the snapshot without a single lookup, and takes over the keeping once
    the first is gone (its lock is released with the process, here by stop())."""
    settings = settings_from_mapping(mapping(running_knot.nameserver))
    sources = [CountingSource(make_source(settings.dns)) for _ in range(2)]
    finders = [Discoverer(settings, source) for source in sources]
    keepers = [Keeper(finder, tmp_path) for finder in finders]
    keepers[0].load()
    deadline = time.monotonic() + 30
    while set(ANSWERING) - snapshot_domains(tmp_path):
        assert time.monotonic() < deadline
        time.sleep(keepers[0].step())
    assert keepers[0].keeping
    assert sources[0].asks >= len(ANSWERING)
    keepers[1].load()
    keepers[1].step()
    assert not keepers[1].keeping
    for domain in ANSWERING:
        assert not finders[1].served(domain, mail=False).stale
    assert sources[1].asks == 0
    keepers[0].stop()
    keepers[1].step()
    assert keepers[1].keeping
    keepers[1].stop()


class RecordingSource:
    """Passes every lookup to a real source and notes which domain it was for."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.domains: list[str] = []

    def ask(self, questions: Any) -> Any:
        self.domains.append(questions[0][0].split("._tcp.", 1)[1].rstrip("."))
        return self.inner.ask(questions)


def test_keeper_backs_off_a_failing_domain(running_knot: Knot, tmp_path: Path) -> None:
    """broken.test answers SERVFAIL: the keeper tries it again after failure_ttl, then
    after twice that and so on, while it keeps the healthy domain fresh. Clocks are ours
    (the DNS is real)."""
    clock = FakeClock()
    domains = {"broken.test": {}, "example.test": DOMAINS["example.test"]}
    settings = settings_from_mapping(mapping(running_knot.nameserver, domains))
    source = RecordingSource(make_source(settings.dns))
    finder = Discoverer(settings, source, clock=clock)
    keeper = Keeper(finder, tmp_path, clock=clock)
    tries = []
    for tick in range(600):  # 60 s in steps of 0.1 s
        before = source.domains.count("broken.test")
        keeper.step()
        if source.domains.count("broken.test") > before:
            tries.append(round(tick / 10))
        clock.advance(0.1)
    keeper.stop()
    assert tries == [0, 5, 15, 35]  # failure_ttl 5 s, doubling
    assert source.domains.count("example.test") >= 2  # refreshed before its 60 s expiry
    assert finder.served("example.test").stale is False

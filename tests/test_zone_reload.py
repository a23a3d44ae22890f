"""A zone file edited on disk is picked up on SIGHUP by a real `mail-autoconf serve`, with
requests flowing all the while; a file broken at SIGHUP time leaves the last good zone in
service. Nothing here waits for a fixed time: every phase polls until what it waits for
has happened, within a generous limit, and counts every failure over the whole window."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from autoconf.server import command
from tests.knot import free_port
from tests.processes import stop
from tests.processes import wait_for_port

ROOT = Path(__file__).resolve().parents[1]
ZONE = """\
$TTL 300
$ORIGIN example.org.
@            SOA   ns1 hostmaster {serial} 7200 3600 1209600 300
@            NS    ns1
ns1          A     192.0.2.53
_imaps._tcp  SRV   0 1 993 {host}.example.org.
_submissions._tcp SRV 0 1 465 {host}.example.org.
"""
CONFIG = (
    '[dns]\nzone_files = ["db.example.org"]\n[domains."example.org"]\n'
    '[logging]\nformat = "text"\nlevel = "warning"\n'
)
PATH = "/mail/config-v1.1.xml?emailaddress=someone@example.org"
#: Upper bound of every wait; reached only when something is wrong.
LIMIT = 90.0
#: Requests the load threads send at most (bounds the test if a phase never ends).
MAX_REQUESTS = 20000
SERVE = (sys.executable, "-m", "autoconf", "serve", "--workers", "2")


@dataclass
class Served:
    """A running `mail-autoconf serve`: its master process, URL and log file."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def host(self) -> str:
        """Which IMAP host the service answers with now (one request)."""
        with urllib.request.urlopen(self.url + PATH, timeout=10) as response:
            body: bytes = response.read()
        for host in ("one", "two", "three"):
            if f"<hostname>{host}.example.org</hostname>".encode() in body:
                return host
        raise AssertionError(body[:300])

    def workers(self) -> set[int]:
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return {int(child) for child in children}

    def hup(self) -> None:
        os.kill(self.process.pid, signal.SIGHUP)


@contextmanager
def serve(workdir: Path, zone_host: str) -> Iterator[Served]:
    (workdir / "db.example.org").write_text(ZONE.format(serial=1, host=zone_host))
    (workdir / "autoconf.toml").write_text(CONFIG)
    port = free_port()
    log_path = workdir / "serve.log"
    # The shipped settings disable gunicorn's control socket; should that change, it would
    # land under $XDG_RUNTIME_DIR, kept inside workdir here.
    env = {**os.environ, "XDG_RUNTIME_DIR": str(workdir)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*SERVE, "--bind", f"127.0.0.1:{port}", "--config", str(workdir / "autoconf.toml")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    served = Served(process, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_for_port(port, process, "mail-autoconf serve", timeout=LIMIT)
        poll(lambda: len(served.workers()) == 2, "two workers")
        yield served
    finally:
        stop(process, timeout=30)


def poll(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LIMIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {LIMIT:g}s")
        time.sleep(0.05)


@dataclass
class Load:
    """Threads sending requests one after another, each on a new connection."""

    served: Served
    results: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        while not self.stopping.is_set():
            with self.lock:
                if sum(self.results.values()) + len(self.failures) >= MAX_REQUESTS:
                    return
            try:
                outcome = self.served.host()
            except (OSError, urllib.error.URLError, AssertionError) as exc:
                with self.lock:
                    self.failures.append(repr(exc))
                continue
            with self.lock:
                self.results[outcome] += 1

    @property
    def sent(self) -> int:
        with self.lock:
            return sum(self.results.values()) + len(self.failures)


@contextmanager
def load(served: Served, threads: int = 2) -> Iterator[Load]:
    running = Load(served)
    workers = [threading.Thread(target=running.run) for _ in range(threads)]
    for thread in workers:
        thread.start()
    try:
        yield running
    finally:
        running.stopping.set()
        for thread in workers:
            thread.join(timeout=30)


def hup_and_settle(served: Served, running: Load) -> None:
    """SIGHUP, then wait until every worker from before has exited, two new ones run and
    the load has been answered by them."""
    before = served.workers()
    served.hup()
    poll(lambda: not before & served.workers() and len(served.workers()) == 2, "new workers")
    settled = running.sent
    poll(lambda: running.sent > settled + 20, "requests after the reload")


def write_zone(workdir: Path, text: str) -> Path:
    path = workdir / "db.example.org"
    path.write_text(text)
    return path


def test_sighup_picks_up_an_edited_zone_without_failing_a_request(tmp_path: Path) -> None:
    with serve(tmp_path, "one") as served:
        assert served.host() == "one"
        with load(served) as running:
            poll(lambda: running.sent > 20, "requests before the reload")
            at_hup = running.sent
            write_zone(tmp_path, ZONE.format(serial=2, host="two"))
            hup_and_settle(served, running)
            # The old workers are gone: every answer from now on is the new zone's.
            poll(lambda: served.host() == "two", "the edited zone's answer")
            assert {served.host() for _ in range(10)} == {"two"}
        during = running.sent - at_hup
        assert running.failures == [], running.failures[:5]
        assert running.results["one"] > 0 and running.results["two"] > 0
    print(f"\nSIGHUP, edited zone: {during} requests from the HUP until the old workers had")
    print(f"exited and 20 more; answers over the test {dict(running.results)}, 0 failures")


def test_sighup_with_a_broken_zone_keeps_the_last_good_one(tmp_path: Path) -> None:
    """The master logs one line (file, line, problem); the new workers start from the
    zone it loaded before; fixed and HUPed again, the new zone is served."""
    with serve(tmp_path, "one") as served:
        with load(served) as running:
            poll(lambda: running.sent > 20, "requests before the reload")
            at_hup = running.sent
            zone = write_zone(tmp_path, ZONE.format(serial=2, host="two") + "mail AAA 192.0.2.1\n")
            old = served.workers()
            hup_and_settle(served, running)
            assert served.process.poll() is None, served.log
            assert not old & served.workers()
            assert set(running.results) == {"one"}, running.results
            assert served.host() == "one"
            write_zone(tmp_path, ZONE.format(serial=3, host="three"))
            hup_and_settle(served, running)
            poll(lambda: served.host() == "three", "the repaired zone's answer")
        during = running.sent - at_hup
        assert running.failures == [], running.failures[:5]
        errors = [line for line in served.log.splitlines() if "configuration error" in line]
        assert len(errors) == 1, served.log
        assert f"dns.zone_files: {zone} line 8: unknown rdatatype 'AAA'" in errors[0]
        assert "zones kept as last loaded" in errors[0]
        assert "Traceback" not in served.log
    print(f"\nSIGHUP, broken then repaired zone: {during} requests over both reloads,")
    print(f"answers {dict(running.results)}, 0 failures")


def test_gunicorn_master_hook_refuses_a_broken_zone_before_forking(tmp_path: Path) -> None:
    """The shipped settings' own hook, as every deployment runs it (`gunicorn -c
    python:autoconf.gunicorn_conf autoconf.wsgi:app`): one line and exit status 1, no
    worker forked (the CLI pre-flight is bypassed here)."""
    write_zone(tmp_path, ZONE.format(serial=1, host="one") + "mail A 192.0.2.999\n")
    (tmp_path / "autoconf.toml").write_text(CONFIG)
    bind = f"127.0.0.1:{free_port()}"
    result = subprocess.run(
        [*command(), "--bind", bind],
        cwd=ROOT,
        env={
            **os.environ,
            "AUTOCONF_CONFIG": str(tmp_path / "autoconf.toml"),
            "XDG_RUNTIME_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "line 8: Text input is malformed." in output
    assert "Booting worker" not in output and "Traceback" not in output

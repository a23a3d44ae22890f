"""The Prometheus multiprocess directory stays bounded while workers come and go, and no
count is lost: dead workers' files are folded into one archive file per metric kind."""

from __future__ import annotations

import fcntl
import math
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from autoconf import metrics
from autoconf.metrics import archive_dead_processes
from tests.conftest import ZONE_FILE
from tests.conftest import config
from tests.servers import ROOT
from tests.servers import deployed_gunicorn

#: One process's worth of metrics, written as a worker would (its own pid in the names).
WORKER = """
import sys
from autoconf.metrics import Metrics
from autoconf.model import RRset, Status
m = Metrics()
for i in range(int(sys.argv[1])):
    m.observe_request("thunderbird", "200", 0.001 * i)
    m.observe_request("autodiscover", "404", 0.3)
    m.cache_event("hit")
print(__import__("os").getpid())
"""


def run_worker(directory: Path, requests: int) -> int:
    """A real process writing metrics files into ``directory``; returns its pid."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(requests)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(done.stdout)


def exposition(directory: Path) -> str:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return generate_latest(registry).decode()


def samples(text: str) -> dict[str, float]:
    return {
        name: float(value)
        for name, _, value in (line.rpartition(" ") for line in text.splitlines())
        if name and not name.startswith("#")
    }


def assert_same_totals(before: str, after: str) -> None:
    """Counts exactly; ``_sum`` values up to float rounding (files are added in another
    order once archived)."""
    old, new = samples(before), samples(after)
    assert old.keys() == new.keys()
    for name, value in old.items():
        if "_sum" in name:
            assert math.isclose(new[name], value, rel_tol=1e-12), name
        else:
            assert new[name] == value, name


def test_archiving_changes_no_total(tmp_path: Path) -> None:
    """Counters and histograms (buckets, sums, counts) read the same before and after dead
    processes are archived, again and again, and only the live process keeps files."""
    live = run_worker(tmp_path, 3)
    for requests in (1, 2, 5):
        dead = run_worker(tmp_path, requests)
        before = exposition(tmp_path)
        assert archive_dead_processes(tmp_path, {live})
        assert_same_totals(before, exposition(tmp_path))
        names = sorted(p.name for p in tmp_path.iterdir())
        assert not any(str(dead) in name for name in names)
        assert names == sorted(
            [
                "archive.lock",
                "counter_archive.db",
                "histogram_archive.db",
                f"counter_{live}.db",
                f"histogram_{live}.db",
            ]
        )
    assert 'autoconf_requests_total{format="thunderbird",outcome="200"} 11.0' in before
    assert 'autoconf_request_seconds_count{format="autodiscover"} 11.0' in before


def test_busy_scrape_postpones_archiving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a scrape holds the lock, archiving gives up after its patience and leaves
    every file as it was (the next worker exit folds them in)."""
    dead = run_worker(tmp_path, 2)
    monkeypatch.setattr(metrics, "LOCK_PATIENCE", 0.05)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    fd = os.open(tmp_path / metrics.LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # a scrape in progress
        assert archive_dead_processes(tmp_path, set()) is False
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.suffix == ".db"} == {
            name: data for name, data in before.items() if name.endswith(".db")
        }
    finally:
        os.close(fd)
    assert archive_dead_processes(tmp_path, set())
    assert f"counter_{dead}.db" not in os.listdir(tmp_path)


def scrape(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=60) as response:
        return str(response.read().decode())


def requests_counted(exposition: str) -> float:
    found = re.search(
        r'^autoconf_requests_total\{format="thunderbird",outcome="200"\} (\S+)$',
        exposition,
        re.MULTILINE,
    )
    return float(found[1]) if found else 0.0


@pytest.mark.gunicorn
def test_directory_stays_bounded_across_worker_generations(tmp_path: Path) -> None:
    """A real gunicorn with the shipped settings, a worker recycled every two requests:
    across a dozen worker generations the directory never holds more than the live and the
    just-exited worker's files plus the archives, and /metrics counts every request."""
    scratch = tmp_path / "prometheus"
    workdir = tmp_path / "run"
    workdir.mkdir()
    mapping = config(zone_files=[str(ZONE_FILE)])
    recycle = ("--max-requests", "2", "--max-requests-jitter", "0")
    env = {"PROMETHEUS_MULTIPROC_DIR": str(scratch), "AUTOCONF_THREADS": "1"}
    url = "/mail/config-v1.1.xml?emailaddress=alice%40example.test"
    headers = {"Host": "autoconfig.example.test"}
    sent, biggest = 0, 0
    with deployed_gunicorn(mapping, workdir, env=env, extra_args=recycle) as server:
        for _ in range(24):
            request = urllib.request.Request(server.url + url, headers=headers)
            with urllib.request.urlopen(request, timeout=60) as response:
                assert response.status == 200
            sent += 1
            files = list(scratch.iterdir())
            # live worker + the one just exited (not yet folded), 2 kinds each; 2 archives;
            # the lock; the archive's scratch file while one is written.
            assert len(files) <= 2 * 2 + 2 + 1 + 1, sorted(f.name for f in files)
            biggest = max(biggest, sum(f.stat().st_size for f in files))
        counted = requests_counted(scrape(server.url))
        generations = server.log.count("Booting worker")
    assert counted == sent
    assert generations >= 8
    assert biggest <= 8 * 64 * 1024  # prometheus-client's files start at 64 KiB each

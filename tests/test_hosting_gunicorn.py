"""A flood of strangers' names against a real gunicorn with the shipped settings, answers
from a real Knot: the budget of cold decisions holds, the service stays responsive.

No timing assertion: the bound on queries is computed from the measured duration of the
flood (Knot counts the queries), and the load is a fixed number of requests.
"""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path

import pytest

from autoconf import hosting
from tests.knot import Knot
from tests.servers import deployed_gunicorn
from tests.test_hosting import TB
from tests.test_hosting import hosting_config

pytestmark = pytest.mark.gunicorn

RATE = 1  # cold decisions per second per worker (burst 1)
FLOOD = 240  # distinct random names
THREADS = 8
DECISION = len(hosting.questions("x.customers.test"))


def test_flood_of_random_names_stays_within_the_budget(running_knot: Knot, tmp_path: Path) -> None:
    """240 distinct random names under customers.test (each would be NXDOMAIN) from eight
    threads, with /healthz probed throughout: every stranger gets 404 or 503 (+
    Retry-After), never a 5xx of another kind; Knot sees at most one decision's questions
    per token the budget can have granted in the measured time; health and a listed
    domain keep answering, and the metrics count the refusals."""
    config = hosting_config(running_knot, decisions_per_second=RATE)
    with deployed_gunicorn(config, tmp_path) as server:
        assert server.get(f"{TB}?emailaddress=a@example.test")[0] == 200  # warm the listed
        names = [f"{secrets.token_hex(6)}.customers.test" for _ in range(FLOOD)]
        statuses: list[int] = []
        health: list[int] = []
        lock = threading.Lock()
        done = threading.Event()

        def flood(share: list[str]) -> None:
            for name in share:
                status, headers, _ = server.get(f"{TB}?emailaddress=a@{name}")
                assert status != 503 or int(headers["Retry-After"]) >= 1
                with lock:
                    statuses.append(status)

        def probe() -> None:
            while not done.is_set():
                health.append(server.get("/healthz")[0])
                time.sleep(0.02)

        before = running_knot.queries()
        started = time.monotonic()
        prober = threading.Thread(target=probe)
        prober.start()
        workers = [
            threading.Thread(target=flood, args=(names[n::THREADS],)) for n in range(THREADS)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
        elapsed = time.monotonic() - started
        asked = running_knot.queries() - before
        listed = server.get(f"{TB}?emailaddress=a@example.test")[0]
        done.set()
        prober.join(10)
        metrics = server.get("/metrics")[2].decode()
    assert len(statuses) == FLOOD
    assert set(statuses) <= {404, 503}
    granted = statuses.count(404)
    assert statuses.count(503) > 0
    # One worker: at most burst + rate x elapsed tokens, each one decision's questions.
    bound = 1 + RATE * elapsed
    assert granted <= bound, (granted, elapsed)
    assert asked == granted * DECISION <= bound * DECISION, (asked, granted, elapsed)
    assert health and set(health) == {200}
    assert listed == 200
    refused = [
        line
        for line in metrics.splitlines()
        if line.startswith('autoconf_hosting_decisions_total{outcome="over-budget"}')
    ]
    assert refused and float(refused[0].rsplit(" ", 1)[1]) == statuses.count(503)

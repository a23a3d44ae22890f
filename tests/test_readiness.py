"""/readyz within a fixed budget (issue 12 item 5), with a black-holed resolver and a real
gunicorn as deployed.

The old readiness refreshed up to 20 domains one after another, each costing a whole DNS
timeout (2 s) when DNS is silent: 18 served domains here would take 36 s, past the probe's
3 s and past gunicorn's 20 s worker timeout. The bounds below (6 s) are far from both the
old behaviour and the budget (1 s), so a slow machine cannot make them flaky.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autoconf import create_app
from autoconf.readiness import BUDGET
from tests.conftest import DOMAINS
from tests.conftest import config
from tests.dns_relay import relay
from tests.knot import Knot
from tests.servers import Server
from tests.servers import deployed_gunicorn

DNS_TIMEOUT = 2.0
#: Far below the old cost (len(DOMAINS) x DNS_TIMEOUT = 36 s), far above the budget (1 s).
BOUND = 6.0


@pytest.fixture(name="black_hole")
def fixture_black_hole() -> Iterator[str]:
    """``host:port`` of a UDP socket that takes queries and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def probe(server: Server) -> tuple[int, dict[str, Any], float]:
    """GET /readyz as a kubelet would (no Host of ours: pods are probed by IP)."""
    started = time.monotonic()
    status, _, body = server.get("/readyz")
    return status, json.loads(body), time.monotonic() - started


@pytest.mark.gunicorn
def test_cold_instance_with_silent_dns_answers_within_budget(
    black_hole: str, tmp_path: Path
) -> None:
    """Nothing cached and a resolver that never answers: not ready, said within the budget
    (the lookups go on in the background), and a second probe joins them instead of
    waiting again or starting more."""
    assert len(DOMAINS) * DNS_TIMEOUT > 5 * BOUND
    with deployed_gunicorn(config(nameservers=[black_hole], timeout=DNS_TIMEOUT), tmp_path) as app:
        first = probe(app)
        second = probe(app)
    for status, body, elapsed in (first, second):
        assert elapsed < BOUND, elapsed
        assert status == 503
        assert body["status"] == "dns-unavailable" and body["basis"] == "dns"
        assert body["domains_checked"] + body["dns_pending"] == len(DOMAINS)
        assert body["dns_failures"] == body["domains_checked"]


@pytest.mark.gunicorn
def test_stale_settings_keep_the_instance_ready_during_an_outage(
    running_knot: Knot, tmp_path: Path
) -> None:
    """Warm, then DNS goes silent and the settings expire (cache.cap = 1 s): the instance
    serves them stale (RFC 8767), so it stays ready, answered at once from cache state."""
    mapping = config(timeout=DNS_TIMEOUT)
    mapping["cache"] = {"floor": 0, "cap": 1}
    with relay((running_knot.address, running_knot.port)) as dns:
        mapping["dns"]["nameservers"] = [dns.nameserver]
        with deployed_gunicorn(mapping, tmp_path) as app:
            warm = app.get("/mail/config-v1.1.xml", headers={"Host": "autoconfig.example.test"})
            assert warm[0] == 200
            dns.black_hole()
            time.sleep(1.5)  # past the 1 s lifetime: what is cached is now stale
            probes = [probe(app) for _ in range(3)]
            stale = app.get("/mail/config-v1.1.xml", headers={"Host": "autoconfig.example.test"})
    for status, body, elapsed in probes:
        assert elapsed < BOUND, elapsed
        assert (status, body["status"], body["basis"]) == (200, "ready", "cache")
    assert stale[0] == 200 and stale[2] == warm[2]


def test_first_answer_from_dns_ends_the_check(running_knot: Knot) -> None:
    """Cold, with DNS working: ready as soon as one sampled domain is answered; the next
    probe is decided from the cache that lookup filled."""
    app = create_app(config(nameservers=[running_knot.nameserver], timeout=DNS_TIMEOUT))
    client = app.test_client()
    cold = client.get("/readyz")
    warm = client.get("/readyz")
    assert cold.status_code == 200 and cold.json is not None
    assert cold.json["basis"] == "dns" and cold.json["status"] == "ready"
    assert 1 <= cold.json["domains_checked"] <= len(DOMAINS)
    assert warm.status_code == 200 and warm.json is not None
    assert warm.json == {
        "status": "ready",
        "basis": "cache",
        "domains_checked": 0,
        "dns_failures": 0,
        "dns_pending": 0,
    }


def test_budget_is_below_one_dns_timeout() -> None:
    """The budget must end before a silent resolver's lookup does (dns.timeout default 2 s)
    and well before Kubernetes' 3 s probe timeout (deploy/kubernetes/deployment.yaml)."""
    assert BUDGET < DNS_TIMEOUT < 3

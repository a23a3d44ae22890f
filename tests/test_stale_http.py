"""A DNS outage after warm-up, seen from the clients: every format keeps answering from
the stale cache (RFC 8767), the stale serves are counted and logged, and the instance
stays ready. Real Knot, real HTTP app; only the cache's clock is ours."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient

from autoconf import create_app
from tests.conftest import config
from tests.doubles import FakeClock
from tests.knot import Knot
from tests.pox import POX_PATH
from tests.pox import XML
from tests.pox import outlook_body
from tests.test_health import metric

DOMAIN = "example.test"  # records with TTL 300, negative TTL 60
ADDRESS = f"alice@{DOMAIN}"


def requests(client: FlaskClient) -> dict[str, tuple[int, bytes]]:
    """One request per client format, as (status, body)."""
    answers = {
        "thunderbird": client.get(f"/mail/config-v1.1.xml?emailaddress={ADDRESS}"),
        "pox": client.post(POX_PATH, data=outlook_body(ADDRESS), content_type=XML),
        "v2": client.get(
            f"/autodiscover/autodiscover.json?Email={ADDRESS}&Protocol=AutodiscoverV1"
        ),
        "profile": client.get(f"/mobileconfig?emailaddress={ADDRESS}"),
        "caldav": client.get("/.well-known/caldav", headers={"Host": DOMAIN}),
    }
    return {name: (r.status_code, r.data) for name, r in answers.items()}


def test_outage_after_warm_up_is_served_stale(knot: Knot, caplog: pytest.LogCaptureFixture) -> None:
    """Knot stopped after the cache expired: same answers, counted, logged, still ready."""
    if knot.process is None:
        knot.start()
    clock = FakeClock()
    app = create_app(config(nameservers=[knot.nameserver], timeout=0.3), clock=clock)
    client = app.test_client()
    warm = requests(client)
    assert {status for status, _ in warm.values()} <= {200, 307}
    knot.stop()
    try:
        clock.advance(3600 + 1)  # past every lifetime (cap 1 h), well inside stale_if_error
        with caplog.at_level(logging.INFO, logger="autoconf.request"):
            during = requests(client)
        ready = client.get("/readyz")
        text = client.get("/metrics").data.decode()
    finally:
        knot.start()
    assert during == warm
    assert ready.status_code == 200
    assert metric(text, "autoconf_cache_events_total", event="stale") >= len(during)
    assert metric(text, "autoconf_dns_queries_total", rdtype="SRV", status="failed") >= 1
    # The refresh that failed ends in a stale serve too: every request says "stale".
    assert [r.cache for r in caplog.records if r.name == "autoconf.request"] == ["stale"] * 5

"""DNS faults against the real Knot, seen through every client format: what a client gets
and how long it waits when the authoritative server is down or answers SERVFAIL.

(A resolver that never answers is in tests/test_limits.py; cache behaviour during an
outage is in the cache tests.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from autoconf import create_app
from tests.conftest import config
from tests.knot import Knot
from tests.pox import POX_PATH
from tests.pox import XML
from tests.pox import error_of
from tests.pox import outlook_body

TIMEOUT = 1.0


def every_format(client: FlaskClient, domain: str) -> dict[str, TestResponse]:
    """One request per client format for ``alice@domain``."""
    address = f"alice@{domain}"
    host = {"Host": "example.test"}
    return {
        "thunderbird": client.get(f"/mail/config-v1.1.xml?emailaddress={address}", headers=host),
        "pox": client.post(POX_PATH, data=outlook_body(address), content_type=XML, headers=host),
        "v2": client.get(
            f"/autodiscover/autodiscover.json/v1.0/{address}?Protocol=AutodiscoverV1", headers=host
        ),
        "profile": client.get(f"/mobileconfig?emailaddress={address}", headers=host),
    }


def assert_temporary_failure(responses: dict[str, TestResponse]) -> None:
    """503 with Retry-After everywhere, each in its client's own words: POX ErrorCode 603,
    v2 ServiceUnavailable, plain text otherwise; never a 404 that clients would remember."""
    for name, response in responses.items():
        assert response.status_code == 503, name
        assert int(response.headers["Retry-After"]) > 0, name
        assert "no-store" in response.headers["Cache-Control"], name
    assert error_of(responses["pox"].data).code == 603
    assert json.loads(responses["v2"].data)["ErrorCode"] == "ServiceUnavailable"
    assert responses["thunderbird"].data == b"DNS temporarily unavailable\n"


@pytest.fixture(name="stopped_knot")
def fixture_stopped_knot(knot: Knot) -> Iterator[Knot]:
    """The session Knot, stopped for the test and started again after it."""
    if knot.process is None:
        knot.start()
    knot.stop()
    try:
        yield knot
    finally:
        knot.start()


def knot_app(knot: Knot) -> Flask:
    return create_app(config(nameservers=[knot.nameserver], timeout=TIMEOUT))


def test_knot_down_before_any_answer(stopped_knot: Knot) -> None:
    """Knot stopped before the service ever got an answer: every format gets a clear
    temporary failure, each within the configured DNS timeout (plus rendering)."""
    client = knot_app(stopped_knot).test_client()
    started = time.monotonic()
    responses = every_format(client, "example.test")
    elapsed = time.monotonic() - started
    assert_temporary_failure(responses)
    assert elapsed < len(responses) * (TIMEOUT + 0.5), elapsed


def test_servfail_is_fast_and_counted(running_knot: Knot) -> None:
    """broken.test is SERVFAIL at Knot (its zone does not load): a 503 in every format,
    answered at once rather than after a timeout, and counted as failed DNS in /metrics."""
    app = knot_app(running_knot)
    client = app.test_client()
    started = time.monotonic()
    responses = every_format(client, "broken.test")
    elapsed = time.monotonic() - started
    assert_temporary_failure(responses)
    assert elapsed < TIMEOUT, elapsed
    metrics = client.get("/metrics").data.decode()
    failed = [
        line
        for line in metrics.splitlines()
        if line.startswith("autoconf_dns_queries_total") and 'status="failed"' in line
    ]
    assert failed and float(failed[0].rsplit(" ", 1)[1]) > 0, metrics


def test_recovery_after_knot_returns(knot: Knot) -> None:
    """After an outage the same app answers settings again as soon as Knot is back: a
    failure is never remembered as "no settings"."""
    if knot.process is None:
        knot.start()
    client = knot_app(knot).test_client()
    knot.stop()
    try:
        assert every_format(client, "example.test")["thunderbird"].status_code == 503
    finally:
        knot.start()
    deadline = time.monotonic() + 30  # the cache may hold the failure for seconds
    while time.monotonic() < deadline:
        statuses = {n: r.status_code for n, r in every_format(client, "example.test").items()}
        if set(statuses.values()) == {200}:
            break
        time.sleep(0.5)
    assert statuses == dict.fromkeys(statuses, 200)

"""Health, readiness, Prometheus metrics (also across gunicorn workers) and JSON logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from autoconf.logs import JsonFormatter
from tests.conftest import config
from tests.knot import Knot
from tests.servers import gunicorn


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a text exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        metric_name, _, label_text = sample.partition("{")
        label_set = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if metric_name == name and label_set == wanted:
            return float(value)
    return 0.0


def test_healthz(client: FlaskClient) -> None:
    """Liveness answers 200 JSON and is never cached."""
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_ready(client: FlaskClient) -> None:
    """Ready when the served domains resolve (broken.test alone does not pull it)."""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json is not None and response.json["status"] == "ready"


def test_readyz_not_ready_when_all_dns_fails(knot: Knot, tmp_path: Path) -> None:
    """With the resolver down and nothing to fall back on, the instance is not ready."""
    from autoconf import create_app

    app = create_app(
        {"dns": {"nameservers": [knot.nameserver], "timeout": 0.3}, "domains": {"example.test": {}}}
    )
    knot.stop()
    try:
        response = app.test_client().get("/readyz")
    finally:
        knot.start()
    assert response.status_code == 503
    assert response.json == {
        "status": "dns-unavailable",
        "basis": "dns",
        "domains_checked": 1,
        "dns_failures": 1,
        "dns_pending": 0,
    }


def test_metrics_count_requests_and_dns(knot_app: Flask) -> None:
    """Requests by format and outcome, DNS questions by type and status; no domains."""
    client = knot_app.test_client()
    client.get("/mail/config-v1.1.xml?emailaddress=a@example.test")
    client.get("/mail/config-v1.1.xml?emailaddress=a@unknown.test")
    client.get("/mail/config-v1.1.xml?emailaddress=a@broken.test")
    text = client.get("/metrics").data.decode()
    assert metric(text, "autoconf_requests_total", format="thunderbird", outcome="200") >= 1
    assert metric(text, "autoconf_requests_total", format="thunderbird", outcome="404") == 1
    assert metric(text, "autoconf_requests_total", format="thunderbird", outcome="503") == 1
    assert metric(text, "autoconf_dns_queries_total", rdtype="SRV", status="answer") >= 4
    assert metric(text, "autoconf_dns_queries_total", rdtype="SRV", status="failed") >= 1
    assert metric(text, "autoconf_dns_query_seconds_count") >= 14
    for private in ("example.test", "unknown.test", "broken.test", "a@"):
        assert private not in text


#: gunicorn's --max-requests for the merge test: each worker process exits after this many.
RECYCLE_AFTER = 4


def test_metrics_merge_gunicorn_workers(running_knot: Knot, tmp_path: Path) -> None:
    """In multiprocess mode /metrics sums what every worker process counted, recycled ones
    included, and every worker logs one JSON line per request.

    Which worker accepts a connection is the kernel's choice, so the test does not count
    on it: with --max-requests each process exits after RECYCLE_AFTER requests (at most one
    more, accepted while it finishes) and gunicorn forks a fresh one, so sequential
    requests are answered by several processes whatever the spreading."""
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    sent = 3 * (RECYCLE_AFTER + 1)
    with gunicorn(
        config(nameservers=[running_knot.nameserver]),
        tmp_path,
        workers=2,
        extra_args=("--max-requests", str(RECYCLE_AFTER)),
        env={"PROMETHEUS_MULTIPROC_DIR": str(multiproc)},
    ) as server:
        for _ in range(sent):
            status, _, _ = server.get(
                "/mail/config-v1.1.xml", headers={"Host": "autoconfig.example.test"}
            )
            assert status == 200
        _, _, body = server.get("/metrics")
    assert (
        metric(body.decode(), "autoconf_requests_total", format="thunderbird", outcome="200")
        == sent
    )
    lines = [json.loads(line) for line in server.log.splitlines() if line.startswith("{")]
    # The start-up probe of tests.servers asks with Host 127.0.0.1 (a 404): not ours.
    logged = [
        line
        for line in lines
        if line["logger"] == "autoconf.request" and line["domain"] == "example.test"
    ]
    assert len(logged) == sent
    answered = {line["pid"] for line in logged}
    assert len(answered) >= 2
    # Every process that answered left its counters behind, and /metrics summed them all.
    counted = {int(path.stem.removeprefix("counter_")) for path in multiproc.glob("counter_*.db")}
    assert answered <= counted
    assert {(line["format"], line["status"], line["outcome"]) for line in logged} == {
        ("thunderbird", 200, "ok")
    }
    assert {line["cache"] for line in logged} <= {"hit", "miss", "stale"}


def test_json_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    """Each record becomes one JSON object with time, level, logger, message and extras."""
    record = logging.LogRecord(
        "autoconf.test", logging.WARNING, __file__, 1, "dns %s failed", ("SRV",), None
    )
    record.domain_count = 3
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "warning" and line["logger"] == "autoconf.test"
    assert line["message"] == "dns SRV failed" and line["domain_count"] == 3
    assert line["time"].endswith("Z")

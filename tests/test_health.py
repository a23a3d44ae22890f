"""Health, readiness, Prometheus metrics (also across gunicorn workers) and JSON logs."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
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


def test_metrics_merge_gunicorn_workers(running_knot: Knot, tmp_path: Path) -> None:
    """In multiprocess mode /metrics sums what every worker counted, and every worker
    logs one JSON line per request."""
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    with gunicorn(
        config(nameservers=[running_knot.nameserver]),
        tmp_path,
        workers=2,
        env={"PROMETHEUS_MULTIPROC_DIR": str(multiproc)},
    ) as server:

        def ask(_: int) -> int:
            status, _, _ = server.get(
                "/mail/config-v1.1.xml", headers={"Host": "autoconfig.example.test"}
            )
            return status

        # Concurrent batches until both workers have counted something: with cached
        # answers, sequential requests can all land on whichever worker accepts first.
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            while sent < 400 and len(list(multiproc.glob("counter_*.db"))) < 2:
                assert set(pool.map(ask, range(40))) == {200}
                sent += 40
        _, _, body = server.get("/metrics")
    assert len(list(multiproc.glob("counter_*.db"))) == 2
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
    assert len({line["pid"] for line in logged}) == 2
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

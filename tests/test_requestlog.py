"""One structured log line per request: what was asked, what happened, nothing secret."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from flask import Flask

from autoconf import create_app
from autoconf.errors import ConfigError
from autoconf.logs import TextFormatter
from tests.conftest import ZONE_FILE
from tests.conftest import config
from tests.pox import POX_PATH
from tests.pox import XML
from tests.pox import outlook_body


def make_app(**logging_keys: Any) -> Flask:
    data = config(zone_files=[str(ZONE_FILE)])
    if logging_keys:
        data = {**data, "logging": logging_keys}
    return create_app(data)


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    keys = ("format", "method", "status", "latency_ms", "domain", "outcome", "cache")
    return [
        {k: getattr(r, k) for k in (*keys, "address") if hasattr(r, k)}
        for r in caplog.records
        if r.name == "autoconf.request"
    ]


def test_fields_for_success_and_cache(caplog: pytest.LogCaptureFixture) -> None:
    """Format, domain (A-label), outcome, status, latency and the cache's answer."""
    client = make_app().test_client()
    with caplog.at_level(logging.INFO, logger="autoconf.request"):
        for _ in range(2):
            client.get(
                "/mail/config-v1.1.xml", query_string={"emailaddress": "a@Straße.example.test"}
            )
    first, second = request_lines(caplog)
    assert first["format"] == "thunderbird" and first["status"] == 200
    assert first["domain"] == "xn--strae-oqa.example.test" and first["outcome"] == "ok"
    assert (first["cache"], second["cache"]) == ("miss", "hit")
    assert first["latency_ms"] > 0
    assert "address" not in first  # the local part stays out by default


@pytest.mark.parametrize(
    ("path", "outcome", "status", "domain"),
    [
        (
            "/mail/config-v1.1.xml?emailaddress=a@unknown.test",
            "UnknownDomainError",
            404,
            "unknown.test",
        ),
        (
            "/mail/config-v1.1.xml?emailaddress=a@none.example.test",
            "NoSettingsError",
            404,
            "none.example.test",
        ),
        ("/mail/config-v1.1.xml?emailaddress=not-an-address", "InvalidAddressError", 400, ""),
        ("/no/such/route", "ok", 404, ""),
    ],
)
def test_fields_for_refusals(
    caplog: pytest.LogCaptureFixture, path: str, outcome: str, status: int, domain: str
) -> None:
    """Refusals name the error class; unknown routes are logged as unrouted."""
    client = make_app().test_client()
    with caplog.at_level(logging.INFO, logger="autoconf.request"):
        client.get(path)
    (line,) = request_lines(caplog)
    assert (line["outcome"], line["status"], line["domain"]) == (outcome, status, domain)
    if path.startswith("/no/"):
        assert line["format"] == "unrouted"


def test_address_only_when_configured(caplog: pytest.LogCaptureFixture) -> None:
    """logging.addresses = true adds the full address (query and POX body alike)."""
    client = make_app(addresses=True).test_client()
    with caplog.at_level(logging.INFO, logger="autoconf.request"):
        client.get("/mail/config-v1.1.xml?emailaddress=alice@example.test")
        client.post(POX_PATH, data=outlook_body("bob@example.test"), content_type=XML)
    assert [line["address"] for line in request_lines(caplog)] == [
        "alice@example.test",
        "bob@example.test",
    ]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="autoconf.request"):
        make_app().test_client().post(
            POX_PATH, data=outlook_body("bob@example.test"), content_type=XML
        )
    (line,) = request_lines(caplog)
    assert "address" not in line and line["domain"] == "example.test"


def test_text_format() -> None:
    """The development format is one readable line with key=value extras."""
    record = logging.LogRecord("autoconf.request", logging.INFO, __file__, 1, "request", (), None)
    record.status = 200
    record.domain = "example.test"
    line = TextFormatter().format(record)
    assert line.endswith("INFO    autoconf.request: request status=200 domain=example.test")


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ({"format": "xml"}, "logging.format"),
        ({"level": "loud"}, "logging.level"),
        ({"addresses": "yes"}, "logging.addresses"),
        ({"colour": 1}, "logging.colour"),
    ],
)
def test_logging_config_errors(keys: dict[str, Any], named: str) -> None:
    """Bad [logging] values stop start-up naming the key."""
    with pytest.raises(ConfigError) as info:
        make_app(**keys)
    assert named in info.value.detail


def test_json_lines_are_json(capsys: pytest.CaptureFixture[str]) -> None:
    """configure() makes every autoconf line a JSON object carrying the pid."""
    import os

    from autoconf.logs import configure

    configure("json", "info")
    try:
        make_app().test_client().get("/mail/config-v1.1.xml?emailaddress=a@example.test")
    finally:
        logging.getLogger("autoconf").handlers.clear()
        logging.getLogger("autoconf").propagate = True
        logging.getLogger("autoconf").setLevel(logging.NOTSET)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    (request,) = [line for line in lines if line["logger"] == "autoconf.request"]
    assert request["pid"] == os.getpid() and request["status"] == 200


def alias_app(**logging_keys: Any) -> Flask:
    """The test domains, weights.example.test with an alias that logs in as itself."""
    data = config(zone_files=[str(ZONE_FILE)])
    data["domains"] = {
        **data["domains"],
        "weights.example.test": {"aliases": ["weights-alias.test"], "alias_login": "address"},
    }
    return create_app({**data, "logging": logging_keys} if logging_keys else data)


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("/mail/config-v1.1.xml?emailaddress=carol@example.test", "thunderbird"),
        ("/autodiscover/autodiscover.xml?Email=carol@example.test", "autodiscover"),
        (
            "/autodiscover/autodiscover.json?Email=carol@example.test&Protocol=ActiveSync",
            "autodiscover_json",
        ),
        (
            "/autodiscover/autodiscover.json/v1.0/carol@example.test?Protocol=ActiveSync",
            "autodiscover_json",
        ),
        ("/mobileconfig?emailaddress=carol@example.test", "mobileconfig"),
        ("/email.mobileconfig?email=carol@example.test", "mobileconfig"),
        ("/?address=carol@example.test", "diag"),
    ],
)
def test_every_form_of_address_is_logged_when_configured(
    caplog: pytest.LogCaptureFixture, path: str, fmt: str
) -> None:
    """logging.addresses = true logs the address whatever form the request names it in
    (the Apple profile and the v2 path form were missed: issue 14 item 4)."""
    client = make_app(addresses=True).test_client()
    with caplog.at_level(logging.INFO, logger="autoconf.request"):
        response = client.get(path)
    (line,) = request_lines(caplog)
    assert response.status_code == 200
    assert (line["format"], line["domain"], line["outcome"]) == (fmt, "example.test", "ok")
    assert line["address"] == "carol@example.test"


@pytest.mark.parametrize(
    ("method", "path", "headers", "body"),
    [
        ("GET", "/mail/config-v1.1.xml?emailaddress=a@weights-alias.test", {}, None),
        ("POST", POX_PATH, {}, outlook_body("a@weights-alias.test")),
        ("GET", POX_PATH, {"Host": "autodiscover.weights-alias.test"}, None),
        ("GET", "/mobileconfig?emailaddress=a@weights-alias.test", {}, None),
    ],
)
def test_domain_is_the_domain_asked_about(
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
) -> None:
    """An alias domain is logged as asked, not as the primary it is answered from (a POX
    request noted the domain twice, the primary last)."""
    client = alias_app().test_client()
    with caplog.at_level(logging.INFO, logger="autoconf.request"):
        response = client.open(path, method=method, headers=headers, data=body, content_type=XML)
    (line,) = request_lines(caplog)
    assert response.status_code == 200
    assert (line["domain"], line["outcome"]) == ("weights-alias.test", "ok")


@pytest.mark.parametrize(
    ("name", "status", "outcome", "domain"),
    [
        ("autoconfig.example.test", 200, "ok", "example.test"),
        ("autodiscover.unknown.test", 404, "UnknownDomainError", "unknown.test"),
    ],
)
def test_tls_ask_is_logged_with_the_mail_domain(
    caplog: pytest.LogCaptureFixture, name: str, status: int, outcome: str, domain: str
) -> None:
    """/tls-ask (Caddy's question) describes itself like a client format: its line names
    the mail domain of the certificate name asked about, and no answer may be stored."""
    client = make_app().test_client()
    with caplog.at_level(logging.INFO, logger="autoconf.request"):
        response = client.get("/tls-ask", query_string={"domain": name})
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"
    (line,) = request_lines(caplog)
    assert (line["format"], line["domain"], line["outcome"]) == ("tls_ask", domain, outcome)

"""Privacy and abuse: no DNS for strangers' names, no credential prompts, nothing secret in
any log, the Host header checked on every route, and no way to tell mailboxes apart.

DNS queries are counted by the real Knot (its mod-stats counters), not by the service.
"""

from __future__ import annotations

import base64
import json
import logging
import plistlib
import re
import socket
import string
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from autoconf import create_app
from autoconf.address import parse_address
from autoconf.discovery import questions
from autoconf.errors import AutoconfError
from tests.conftest import ZONE_FILE
from tests.conftest import config
from tests.doubles import FakeClock
from tests.knot import Knot
from tests.pox import POX_PATH
from tests.pox import XML
from tests.pox import activesync_body
from tests.pox import outlook_body
from tests.processes import stop
from tests.routes import route_urls
from tests.servers import deployed_gunicorn

ROOT = Path(__file__).resolve().parents[1]
V2 = "/autodiscover/autodiscover.json"
TB = "/mail/config-v1.1.xml"
SECRET = "hunter2-Sekr1t"
BASIC = base64.b64encode(f"alice@example.test:{SECRET}".encode()).decode()
CREDENTIALS = [
    {},
    {"Authorization": f"Basic {BASIC}"},
    {"Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."},
    {"Authorization": "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw=="},
    {"Authorization": "Negotiate YIIBhgYGKwYBBQUCoIIBejCCAXagMDAuBgkqhkiC9xIBAgIGCSqGSIb3"},
]


def every_request(local: str, domain: str) -> list[tuple[str, str, bytes | None]]:
    """(method, URL, body) for every way a client can name ``local@domain``."""
    address = f"{local}@{domain}"
    query = urllib.parse.quote(address, safe="@")
    return [
        ("GET", f"{TB}?emailaddress={query}", None),
        ("GET", f"/.well-known/autoconfig{TB}?emailaddress={query}", None),
        ("POST", POX_PATH, outlook_body(address)),
        ("POST", POX_PATH, activesync_body(address)),
        ("GET", f"{POX_PATH}?Email={query}", None),
        ("GET", f"{V2}?Email={query}&Protocol=AutodiscoverV1", None),
        ("GET", f"{V2}/v1.0/{query}?Protocol=ActiveSync", None),
    ]


def send(
    client: FlaskClient, method: str, url: str, body: bytes | None, **headers: str
) -> TestResponse:
    return client.open(
        url,
        method=method,
        data=body,
        content_type=XML if body is not None else None,
        headers={"Host": "autodiscover.example.test", **headers},
    )


# --- DNS: strangers' names cost nothing, served names cost the fixed question set -----------


def test_unknown_domains_cost_zero_queries_at_knot(running_knot: Knot) -> None:
    """Knot counts no query at all for any request naming an unserved domain, in any
    client format; a served domain costs exactly its fixed question set (RFC 6186/6764
    SRV and TXT names), no more."""
    app = create_knot_app(running_knot)
    client = app.test_client()
    before = running_knot.queries()
    for domain in (
        "unknown.test",
        "example.test.evil.test",
        "victim.example",
        "xn--80ak6aa92e.com",
    ):
        for method, url, body in every_request("alice", domain):
            assert send(client, method, url, body).status_code == 404
    assert running_knot.queries() == before
    send(client, "GET", f"{TB}?emailaddress=alice@example.test", None)
    assert running_knot.queries() - before == len(questions("example.test"))


def test_bad_requests_cost_zero_queries_at_knot(running_knot: Knot) -> None:
    """Malformed input is refused before any DNS: bad addresses, bad XML, bad Host, a v2
    protocol that is not offered, an oversized body."""
    client = create_knot_app(running_knot).test_client()
    before = running_knot.queries()
    refused = [
        send(client, "GET", f"{TB}?emailaddress=not-an-address", None),
        send(client, "GET", TB, None, Host="autoconfig.unknown.test"),
        send(client, "POST", POX_PATH, b"<Autodiscover><Request>"),
        send(client, "POST", POX_PATH, outlook_body("alice@example.test") + b" " * 20000),
        send(client, "GET", f"{V2}?Email=alice@example.test&Protocol=Ews", None),
    ]
    assert [r.status_code for r in refused] == [400, 400, 400, 413, 400]
    assert running_knot.queries() == before


def create_knot_app(knot: Knot) -> Flask:
    from autoconf import create_app

    app = create_app(config(nameservers=[knot.nameserver], timeout=1.0))
    app.config["TESTING"] = True
    return app


# --- never ask for credentials -------------------------------------------------------------


@pytest.mark.parametrize("headers", CREDENTIALS, ids=["none", "basic", "bearer", "ntlm", "nego"])
@pytest.mark.parametrize("method", ["GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE"])
def test_no_route_asks_for_credentials(
    app: Flask, client: FlaskClient, headers: dict[str, str], method: str
) -> None:
    """Every route, with and without any kind of Authorization: never 401, never
    WWW-Authenticate, and the answer is the same as without credentials."""
    for url in route_urls(app):
        body = outlook_body("alice@example.test") if method == "POST" else None
        answer = send(client, method, url, body, **headers)
        plain = send(client, method, url, body)
        assert answer.status_code != 401 and "WWW-Authenticate" not in answer.headers, url
        assert answer.status_code < 500, url
        assert answer.status_code == plain.status_code, url


# --- nothing secret in logs -----------------------------------------------------------------

MARK = "qzmarker"


def leaky_requests() -> list[tuple[str, str, bytes | None, dict[str, str]]]:
    """Requests carrying secrets and a marker address everywhere a client could put them."""
    auth = {"Authorization": f"Basic {BASIC}"}
    address = f"{MARK}@example.test"
    secret_query = f"emailaddress={address}&password={SECRET}&pass={SECRET}"
    return [
        ("GET", f"{TB}?{secret_query}", None, auth),
        ("GET", f"/.well-known/autoconfig{TB}?{secret_query}", None, auth),
        ("GET", f"{TB}?emailaddress={MARK}-bad&password={SECRET}", None, auth),
        ("POST", POX_PATH, outlook_body(address).replace(b"</Request>", SECRET.encode()), auth),
        ("POST", POX_PATH, outlook_body(address), auth),
        ("POST", POX_PATH, f"<broken {MARK} {SECRET}".encode(), auth),
        ("GET", f"{POX_PATH}?Email={address}&password={SECRET}", None, auth),
        ("GET", f"{V2}?Email={address}&Protocol=AutodiscoverV1&password={SECRET}", None, auth),
        ("GET", f"{V2}/v1.0/{address}?Protocol=AutodiscoverV1&password={SECRET}", None, auth),
        ("GET", f"{V2}/v1.0/{MARK}-no-at?Protocol=ActiveSync", None, auth),
        ("GET", f"{V2}/v1.0/{MARK}@unknown.test?Protocol=ActiveSync", None, auth),
        ("GET", f"/nowhere/{MARK}@example.test?password={SECRET}", None, auth),
        ("GET", f"/healthz?password={SECRET}", None, auth),
    ]


def test_app_logs_hold_no_secrets(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    """At DEBUG, on every success and error path: no Authorization value, no password, no
    body, no address (not even from the v2 path form), no query string."""
    with caplog.at_level(logging.DEBUG):
        statuses = [
            send(client, method, url, body, **headers).status_code
            for method, url, body, headers in leaky_requests()
        ]
    assert {200, 400, 404} <= set(statuses)
    assert any("autodiscover_json.by_path" in r.getMessage() for r in caplog.records)
    for needle in (SECRET, BASIC, MARK, "password=", "Authorization"):
        assert needle not in caplog.text, needle


def raw_http(url: str, request: bytes) -> bytes:
    """Send bytes as they are (malformed requests cannot go through an HTTP library)."""
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        return sock.recv(4096)


@pytest.mark.gunicorn
def test_gunicorn_as_deployed_logs_no_secrets(tmp_path: Path) -> None:
    """A real gunicorn with the shipped settings at debug level: access log, error log
    and app log hold no secret, no marker address (the v2 path is redacted) and no query,
    even for requests gunicorn itself refuses as malformed."""
    mapping = config(zone_files=[str(ROOT / "tests" / "zones" / "example.test.zone")])
    with deployed_gunicorn(mapping, tmp_path, env={"AUTOCONF_LOG_LEVEL": "debug"}) as server:
        for _, url, body, headers in leaky_requests():
            request_headers = {"Host": "autodiscover.example.test", **headers}
            if body is not None:
                request_headers["Content-Type"] = XML
            status, _, _ = server.get(url, headers=request_headers, data=body)
            assert status < 500, url
        malformed = [
            f"GET {TB}?password={SECRET} {MARK} HTTP/1.1\r\nHost: example.test\r\n\r\n",
            f"GET {TB}?password={SECRET} HTTP/1.1\r\nBad {MARK}: {SECRET}\r\n\r\n",
            f"GET {TB}?password={SECRET}{'x' * 3000} HTTP/1.1\r\nHost: example.test\r\n\r\n",
            f"GET /{MARK}@x HTTP/1.1\r\nHost: a\r\nX: {SECRET}{'y' * 9000}\r\n\r\n",
        ]
        replies = [raw_http(server.url, m.encode()) for m in malformed]
        stop(server.process, timeout=20)
    assert [r.split(b" ", 2)[1] for r in replies] == [b"400", b"400", b"414", b"431"]
    log = server.log
    for needle in (SECRET, BASIC, MARK, "password", "Authorization"):
        assert needle not in log, needle
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    paths = [entry.get("path") for entry in entries]
    assert "/autodiscover/autodiscover.json/v1.0/-redacted-" in paths
    assert "Invalid request from ip=127.0.0.1: Invalid HTTP Version: -redacted-" in log


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/autodiscover/autodiscover.json/v1.0/a@b.test", "/autodiscover/autodiscover.json/v1.0/"),
        ("/AutoDiscover/AutoDiscover.JSON/V1.0/no-at/x", "/AutoDiscover/AutoDiscover.JSON/V1.0/"),
        ("/mail/a@b.test/config-v1.1.xml", "/mail/"),
        ("/mail/config-v1.1.xml", "/mail/config-v1.1.xml"),
        ("/autodiscover/autodiscover.json", "/autodiscover/autodiscover.json"),
    ],
)
def test_access_log_path_redaction(path: str, logged: str) -> None:
    """The v2 address segment and any segment with an "@" never reach the access log."""
    from autoconf.gunicorn_conf import redact_path

    result = redact_path(path)
    assert result.startswith(logged) and "@" not in result and "no-at" not in result


def test_crash_and_debug_lines_are_redacted() -> None:
    """The two other places gunicorn prints a request's path: the crash line (with the
    raw URI, query included) and the default pre_request debug line."""
    from gunicorn.config import Config

    from autoconf.gunicorn_conf import JsonAccessLogger
    from autoconf.gunicorn_conf import pre_request

    logger = JsonAccessLogger(Config())
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.error_log.addHandler(handler)
    logger.error_log.setLevel(logging.DEBUG)
    uri = f"{V2}/v1.0/{MARK}@example.test?password={SECRET}"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("Error handling request %s %s", "GET", uri)
    request = type("Request", (), {"method": "GET", "path": uri.split("?")[0]})()
    pre_request(type("Worker", (), {"log": logger})(), request)
    logger.error_log.removeHandler(handler)
    messages = [r.getMessage() for r in records]
    redacted = f"{V2}/v1.0/-redacted-"
    assert messages == [f"Error handling request GET {redacted}", f"GET {redacted}"]


# --- Host header ----------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.test", "autoconfig.evil.test", "example.test.evil.test"])
def test_every_route_checks_the_host(app: Flask, client: FlaskClient, host: str) -> None:
    """Every non-health route refuses an unserved Host with 400 before anything else;
    the health endpoints answer probes that address the pod by IP or any name."""
    for url in route_urls(app):
        response = client.get(url, headers={"Host": host})
        if url in {"/healthz", "/readyz", "/metrics"}:
            assert response.status_code == 200, url
        elif url == "/tls-ask":  # Caddy asks it on loopback: exempt; no name given, 404
            assert response.status_code == 404, url
        else:
            assert response.status_code == 400, url


def test_forwarded_host_is_not_trusted(client: FlaskClient) -> None:
    """X-Forwarded-Host cannot smuggle an unserved name past the Host check, nor change
    the domain the answer is about (no ProxyFix for hosts)."""
    headers = {"Host": "autodiscover.example.test", "X-Forwarded-Host": "autodiscover.evil.test"}
    response = client.get(f"{V2}?Protocol=AutodiscoverV1", headers=headers)
    assert response.status_code == 200
    assert json.loads(response.data)["Url"].startswith("https://autodiscover.example.test/")
    spoofed = {"Host": "evil.test", "X-Forwarded-Host": "autodiscover.example.test"}
    assert client.get(TB, headers=spoofed).status_code == 400


# --- no user enumeration --------------------------------------------------------------------

local_parts = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "._+-", min_size=1, max_size=30),
    st.sampled_from(["admin", "postmaster", "root", "nobody-here", "x.y+z", "jörg"]),
)


@pytest.fixture(name="frozen_client")
def fixture_frozen_client() -> FlaskClient:
    """The zone-file app on a clock that never moves: every answer carries the same
    max-age, so two answers compare exactly however long the test takes."""
    return create_app(config(zone_files=[str(ZONE_FILE)]), clock=FakeClock()).test_client()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(local_parts)
def test_no_format_tells_mailboxes_apart(frozen_client: FlaskClient, local: str) -> None:
    """For any local part at a served domain, every format answers exactly what it
    answers for alice, with only the echoed address differing (Thunderbird and v2 echo
    nothing: byte-identical)."""
    try:
        address = str(parse_address(f"{local}@example.test"))
    except AutoconfError:
        return
    for reference, other in zip(
        every_request("alice", "example.test"), every_request(local, "example.test"), strict=True
    ):
        expected = send(frozen_client, *reference)
        answer = send(frozen_client, *other)
        assert answer.status_code == expected.status_code == 200
        # Whether and how long an answer may be cached must not depend on the mailbox.
        assert answer.headers.get("Cache-Control") == expected.headers.get("Cache-Control")
        assert answer.data == expected.data.replace(
            b"alice@example.test", _xml(address).encode()
        ), other


#: Keys derived from the address by hashing (the profile's install identity), not echoes.
IDENTITY_KEYS = frozenset({"PayloadUUID", "PayloadIdentifier"})


def _profile_shape(value: Any, address: str) -> Any:
    """A profile with the address written as ADDRESS and identity keys dropped."""
    if isinstance(value, dict):
        return {k: _profile_shape(v, address) for k, v in value.items() if k not in IDENTITY_KEYS}
    if isinstance(value, list):
        return [_profile_shape(v, address) for v in value]
    return value.replace(address, "ADDRESS") if isinstance(value, str) else value


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=30)
@given(local_parts)
def test_profiles_differ_only_in_the_address(client: FlaskClient, local: str) -> None:
    """Apple profiles carry the address (no placeholders exist there): apart from it and
    the identity derived from it, any mailbox's profile is alice's."""
    try:
        address = str(parse_address(f"{local}@example.test"))
    except AutoconfError:
        return
    shapes = []
    for who in ("alice@example.test", address):
        query = urllib.parse.urlencode({"emailaddress": who})
        response = send(client, "GET", f"/mobileconfig?{query}", None)
        assert response.status_code == 200
        shapes.append(_profile_shape(plistlib.loads(response.data), who))
    assert shapes[0] == shapes[1]


def _xml(text: str) -> str:
    return re.sub("[&<>]", lambda m: {"&": "&amp;", "<": "&lt;", ">": "&gt;"}[m[0]], text)

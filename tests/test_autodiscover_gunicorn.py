"""End to end: every Autodiscover request form through a real gunicorn (``wsgi:app``, the
shared ``tests.servers`` runner) whose answers come from live DNS queries to a real Knot
serving tests/zones."""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.conftest import config
from tests.knot import Knot
from tests.pox import MOBILESYNC_NS
from tests.pox import XML
from tests.pox import activesync_body
from tests.pox import error_of
from tests.pox import outlook_body
from tests.pox import parse
from tests.pox import texts
from tests.pox import thunderbird_body
from tests.servers import Server
from tests.servers import gunicorn

pytestmark = pytest.mark.gunicorn

SECRET = base64.b64encode(b"alice@example.test:gunicorn-secret").decode()


@dataclass(frozen=True, kw_only=True)
class Answer:
    """One HTTP answer, read completely."""

    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture(name="server", scope="module")
def fixture_server(knot: Knot, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn over the test domains (aliases, ActiveSync URL) asking the session's Knot."""
    if knot.process is None:
        knot.start()
    workdir = tmp_path_factory.mktemp("gunicorn")
    with gunicorn(config(nameservers=[knot.nameserver], timeout=1.0), workdir) as server:
        yield server


def call(
    server: Server,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
) -> Answer:
    """Send one request on a fresh connection; never a 5xx, a 401 or WWW-Authenticate."""
    # http.client rather than Server.get: chunked bodies and a free Host header.
    url = urlsplit(server.url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    try:
        payload = (
            (body[i : i + 1024] for i in range(0, len(body), 1024)) if chunked and body else body
        )
        connection.request(
            method, path, body=payload, headers=headers or {}, encode_chunked=chunked
        )
        response = connection.getresponse()
        answer = Answer(
            status=response.status,
            headers={k.lower(): v for k, v in response.getheaders()},
            body=response.read(),
        )
    finally:
        connection.close()
    assert answer.status < 500 or answer.status == 503, server.log
    assert answer.status != 401
    assert "www-authenticate" not in answer.headers
    return answer


def pox(server: Server, body: bytes, path: str = "/Autodiscover/Autodiscover.xml") -> Answer:
    """Outlook's POST, credentials attached as Thunderbird and Outlook do."""
    headers = {
        "Content-Type": XML,
        "Host": "autodiscover.example.test",
        "Authorization": f"Basic {SECRET}",
    }
    return call(server, "POST", path, body=body, headers=headers)


def test_outlook_post_gets_settings_from_knot(server: Server) -> None:
    """Outlook's request at /Autodiscover/Autodiscover.xml: settings from the live zone."""
    answer = pox(server, outlook_body("alice@example.test"))
    assert answer.status == 200
    assert answer.headers["content-type"] == XML
    assert answer.headers["cache-control"] == "private, no-store"
    root = parse(answer.body)
    assert texts(root, "Account/Protocol/Type") == ["IMAP", "POP3", "SMTP", "CalDAV", "CardDAV"]
    assert texts(root, "Account/Protocol/Server")[0] == "mail.example.test"
    assert set(texts(root, "Account/Protocol/LoginName")) == {"alice@example.test"}


def test_thunderbird_probe_with_basic_auth(server: Server) -> None:
    """Thunderbird's lowercase path and one-line body, Basic credentials attached: 200."""
    answer = pox(server, thunderbird_body("bob@example.test"), "/autodiscover/autodiscover.xml")
    assert answer.status == 200
    assert texts(parse(answer.body), "Account/Protocol/Port")[:3] == ["993", "995", "465"]


def test_delta_chat_bodiless_get(server: Server) -> None:
    """Delta Chat: GET, no body, no query, Host names the domain."""
    answer = call(server, "GET", "/autodiscover/autodiscover.xml", headers={"Host": "example.test"})
    assert answer.status == 200
    root = parse(answer.body)
    assert texts(root, "Account/Protocol/LoginName") == []
    assert texts(root, "Account/Protocol/Type")[:3] == ["IMAP", "POP3", "SMTP"]


def test_activesync_and_alias(server: Server) -> None:
    """mobilesync gets the ActiveSync URL; an alias address gets redirectAddr."""
    eas = pox(server, activesync_body("alice@example.test"), "/AutoDiscover/AutoDiscover.xml")
    assert texts(parse(eas.body), "Action/Settings/Server/Url", MOBILESYNC_NS) == [
        "https://mail.example.test/Microsoft-Server-ActiveSync"
    ]
    alias = pox(server, outlook_body("carol@alias.test"))
    assert texts(parse(alias.body), "Account/RedirectAddr") == ["carol@example.test"]


@pytest.mark.parametrize(
    "path",
    [
        "/autodiscover/autodiscover.json?Email=alice@example.test&Protocol=AutodiscoverV1",
        "/Autodiscover/Autodiscover.json/v1.0/alice@example.test?Protocol=autodiscoverv1",
    ],
)
def test_v2_json_both_forms(server: Server, path: str) -> None:
    """Autodiscover v2 in both URL forms points at the POX endpoint."""
    answer = call(server, "GET", path, headers={"User-Agent": "Microsoft Office/16.0"})
    assert answer.status == 200
    assert json.loads(answer.body) == {
        "Protocol": "AutodiscoverV1",
        "Url": "https://autodiscover.example.test/autodiscover/autodiscover.xml",
    }


def test_error_forms(server: Server) -> None:
    """Malformed 400/600, unknown domain 404/601, SERVFAIL 503/603 + Retry-After,
    unknown v2 protocol 400 InvalidProtocol."""
    malformed = pox(server, b"<Autodiscover><Request>")
    assert (malformed.status, error_of(malformed.body).code) == (400, 600)
    unknown = pox(server, outlook_body("alice@unknown.test"))
    assert (unknown.status, error_of(unknown.body).code) == (404, 601)
    failed = pox(server, outlook_body("alice@broken.test"))
    assert (failed.status, error_of(failed.body).code) == (503, 603)
    assert int(failed.headers["retry-after"]) > 0
    schema = pox(server, activesync_body("bob@weights.example.test"))
    assert (schema.status, error_of(schema.body).code) == (200, 601)
    v2 = call(server, "GET", "/autodiscover/autodiscover.json/v1.0/a@example.test?Protocol=Ews")
    assert (v2.status, json.loads(v2.body)["ErrorCode"]) == (400, "InvalidProtocol")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body_is_413(server: Server, chunked: bool) -> None:
    """20 KiB over the 16 KiB cap: 413 with the Error document, declared or chunked."""
    body = outlook_body("alice@example.test") + b" " * 20480
    headers = {"Content-Type": XML, "Host": "autodiscover.example.test"}
    answer = call(
        server,
        "POST",
        "/autodiscover/autodiscover.xml",
        body=body,
        headers=headers,
        chunked=chunked,
    )
    assert answer.status == 413
    assert error_of(answer.body).code == 600


@pytest.mark.parametrize("host", ["xn--zz.test", "under_score.test", "[::1]:8000", "a" * 300])
def test_strange_hosts_are_client_errors(server: Server, host: str) -> None:
    """Hosts that are no domain name: a 4xx, never a 5xx (checked in ``call``)."""
    answer = call(server, "GET", "/autodiscover/autodiscover.xml", headers={"Host": host})
    assert 400 <= answer.status < 500


def test_access_log_has_no_credentials_or_query(server: Server) -> None:
    """The access log records the path only: no Authorization, no query string, no body.

    (The v2 path form carries the address in the path itself; those lines are excluded.)
    """
    pox(server, outlook_body("alice@example.test"))
    call(
        server,
        "GET",
        "/autodiscover/autodiscover.xml?Email=alice@example.test&password=hunter2",
        headers={"Authorization": f"Basic {SECRET}"},
    )
    log = server.log
    assert '"GET /autodiscover/autodiscover.xml"' in log
    assert '"POST /Autodiscover/Autodiscover.xml" 200' in log
    for needle in (SECRET, "gunicorn-secret", "hunter2", "Basic", "Email="):
        assert needle not in log
    lines = [line for line in log.splitlines() if "/v1.0/" not in line]
    assert not [line for line in lines if "alice@example.test" in line]

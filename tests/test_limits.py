"""Every limit, tried at its edge: the body cap on every route, gunicorn's request-line and
header limits as deployed, the DNS question budget per request (counted by Knot), and the
DNS timeout that keeps a black-holed resolver from pinning the workers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from autoconf import create_app
from autoconf.discovery import questions
from autoconf.dns_source import LiveSource
from tests.conftest import ZONE_FILE
from tests.conftest import config
from tests.knot import Knot
from tests.pox import POX_PATH
from tests.pox import XML
from tests.pox import error_of
from tests.pox import outlook_body
from tests.servers import Server
from tests.servers import deployed_gunicorn
from tests.servers import gunicorn

MAX_BODY = 16384  # http.max_body_bytes default
ALICE = "alice@example.test"
TB = "/mail/config-v1.1.xml"
V2 = "/autodiscover/autodiscover.json"

# --- body cap -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "kind"),
    [
        ("GET", f"{TB}?emailaddress={ALICE}", "plain"),
        ("GET", f"/.well-known/autoconfig{TB}", "plain"),
        ("GET", f"{V2}?Email={ALICE}&Protocol=AutodiscoverV1", "json"),
        ("GET", f"{V2}/v1.0/{ALICE}?Protocol=AutodiscoverV1", "json"),
        ("GET", f"{POX_PATH}?Email={ALICE}", "pox"),
        ("POST", POX_PATH, "pox"),
        ("GET", f"/mobileconfig?emailaddress={ALICE}", "plain"),
        ("GET", "/.well-known/caldav", "plain"),
    ],
)
@pytest.mark.parametrize("size", [MAX_BODY, MAX_BODY + 1])
def test_declared_body_cap_on_every_route(
    client: FlaskClient, method: str, url: str, kind: str, size: int
) -> None:
    """A declared body of http.max_body_bytes is allowed everywhere, one byte more is 413
    on every route, in the client's own error format."""
    body = outlook_body(ALICE).ljust(size) if method == "POST" else b"x" * size
    response = client.open(
        url, method=method, data=body, content_type=XML, headers={"Host": "example.test"}
    )
    if size == MAX_BODY:
        assert response.status_code < 400
        return
    assert response.status_code == 413
    if kind == "json":
        assert json.loads(response.data)["ErrorCode"] == "InvalidRequest"
    elif kind == "pox":
        assert error_of(response.data).code == 600
    else:
        assert response.content_type.startswith("text/plain")


# --- gunicorn request limits, as deployed ---------------------------------------------------


@pytest.fixture(name="deployed", scope="module")
def fixture_deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn with the shipped settings over the test zone file."""
    mapping = config(zone_files=[str(ZONE_FILE)])
    with deployed_gunicorn(mapping, tmp_path_factory.mktemp("deployed")) as server:
        yield server


def raw_status(server: Server, request: bytes) -> int:
    """Send ``request`` as it is and return the status gunicorn (or the app) answered."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        return int(sock.recv(64).split(b" ", 2)[1])


def get(path: str, headers: list[str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: autoconfig.example.test", *headers, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _line(length: int) -> str:
    """A request-line path such that the line is ``length`` bytes long without CRLF."""
    start = f"{TB}?emailaddress={ALICE}&pad="
    return start + "x" * (length - len("GET  HTTP/1.1") - len(start))


def _field(length: int) -> str:
    """A header line of ``length`` bytes counting its CRLF, as gunicorn measures it."""
    return "X-Pad: " + "y" * (length - len("X-Pad: ") - 2)


@pytest.mark.gunicorn
@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (get(_line(2048), []), 200),  # limit_request_line = 2048
        (get(_line(2049), []), 414),
        (get(TB, [_field(8190)]), 200),  # limit_request_field_size = 8190
        (get(TB, [_field(8191)]), 431),
        (get(TB, [f"X-{i}: v" for i in range(48)]), 200),  # limit_request_fields = 50
        (get(TB, [f"X-{i}: v" for i in range(49)]), 431),  # (Host and Connection count)
    ],
    ids=["line-at-limit", "line-over", "field-at-limit", "field-over", "fields-at", "fields-over"],
)
def test_gunicorn_request_limits(deployed: Server, request_bytes: bytes, status: int) -> None:
    """The shipped gunicorn settings' limits hold at their edges: at the limit the app answers,
    past it gunicorn refuses (414 line, 431 fields) without reaching the app."""
    assert raw_status(deployed, request_bytes) == status


# --- DNS question budget --------------------------------------------------------------------

#: One request per client format, each naming example.test.
ONE_OF_EACH = [
    ("GET", f"{TB}?emailaddress={ALICE}", None),
    ("POST", POX_PATH, outlook_body(ALICE)),
    ("GET", f"{POX_PATH}?Email={ALICE}", None),
    ("GET", f"{V2}?Email={ALICE}&Protocol=AutodiscoverV1", None),
    ("GET", f"{V2}/v1.0/alice@alias.test?Protocol=ActiveSync", None),
    ("GET", f"/mobileconfig?emailaddress={ALICE}", None),
    ("GET", "/.well-known/carddav", None),
]


@pytest.mark.parametrize(("method", "url", "body"), ONE_OF_EACH)
def test_question_budget_per_request(
    running_knot: Knot, method: str, url: str, body: bytes | None
) -> None:
    """A request costs at most the fixed question set of its domain (14: SRV and TXT names
    of RFC 6186, 8314 and 6764, no A/AAAA chasing), counted by Knot itself."""
    app = create_app(config(nameservers=[running_knot.nameserver], timeout=1.0))
    before = running_knot.queries()
    response = app.test_client().open(
        url, method=method, data=body, content_type=XML, headers={"Host": "example.test"}
    )
    assert response.status_code < 400
    asked = running_knot.queries() - before
    assert 0 < asked <= len(questions("example.test")) == 14


# --- DNS timeout: a black-holed resolver cannot pin the workers -----------------------------


@pytest.fixture(name="black_hole")
def fixture_black_hole() -> Iterator[str]:
    """``host:port`` of a UDP socket that takes queries and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def test_concurrent_lookups_each_cost_one_timeout(black_hole: str) -> None:
    """Eight lookups at once (more questions than DNS threads) each give up after about
    one timeout: queued questions are failed at the deadline, not waited for."""
    host, port = black_hole.split(":")
    source = LiveSource(nameservers=[(host, int(port))], timeout=0.5)
    durations: list[float] = []

    def lookup() -> None:
        started = time.monotonic()
        source.ask(questions("example.test"))
        durations.append(time.monotonic() - started)

    threads = [threading.Thread(target=lookup) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(durations) == 8
    assert max(durations) < 0.5 * 3, durations  # was 8 timeouts with a 16-thread pool


@pytest.mark.gunicorn
def test_black_holed_resolver_cannot_pin_gunicorn(black_hole: str, tmp_path: Path) -> None:
    """A real gunicorn (1 worker x 4 threads) asking a resolver that never answers: six
    concurrent requests (more than the threads) all get 503 with Retry-After within two
    DNS timeouts, and /healthz, queued behind them, is answered while the last ones are
    still waiting on DNS: a thread is free again after one timeout, not stuck."""
    timeout = 1.0
    mapping = config(nameservers=[black_hole], timeout=timeout)
    finished: list[tuple[int, float]] = []
    with gunicorn(mapping, tmp_path) as server:
        started = time.monotonic()

        def ask() -> None:
            status, headers, _ = server.get(f"{TB}?emailaddress={ALICE}")
            assert status != 503 or int(headers["Retry-After"]) > 0
            finished.append((status, time.monotonic() - started))

        flood = [threading.Thread(target=ask) for _ in range(6)]
        for thread in flood:
            thread.start()
        time.sleep(timeout / 2)
        health, _, _ = server.get("/healthz")
        health_done = time.monotonic() - started
        for thread in flood:
            thread.join(30)
    assert [status for status, _ in finished] == [503] * 6
    last = max(seconds for _, seconds in finished)
    assert last < 2 * (timeout + 0.5), finished
    assert health == 200 and health_done < timeout + 1.0, (health_done, finished)

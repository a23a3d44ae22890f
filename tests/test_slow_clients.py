"""Clients that stop mid-request, against a real gunicorn with the shipped settings.

gthread waits for a request's first byte without a thread, then reads the rest on a thread
that, without a socket timeout, waits for ever: threads x workers such connections stop the
service. The timeout is made small here (AUTOCONF_CLIENT_TIMEOUT=1); every wait in the test
has a bound far above it, so nothing depends on seconds lining up.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from autoconf.gunicorn_worker import STALLED_MESSAGE
from tests.conftest import ZONE_FILE
from tests.conftest import config
from tests.pox import POX_PATH
from tests.pox import outlook_body
from tests.processes import stop
from tests.servers import Server
from tests.servers import deployed_gunicorn

THREADS = 2
GENEROUS = 30.0  # seconds: far above the 1 s timeout, only reached if the fix is missing

HALF_HEADER = b"GET /mail/config-v1.1.xml HTTP/1.1\r\nHost: autoconfig.example.test\r\nX-Sl"


def half_body() -> bytes:
    body = outlook_body("alice@example.test")
    head = (
        f"POST {POX_PATH} HTTP/1.1\r\nHost: autodiscover.example.test\r\n"
        f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body[: len(body) // 2]


@pytest.fixture(name="server")
def fixture_server(tmp_path: Path) -> Iterator[Server]:
    knobs = {"AUTOCONF_THREADS": str(THREADS), "AUTOCONF_CLIENT_TIMEOUT": "1"}
    with deployed_gunicorn(config(zone_files=[str(ZONE_FILE)]), tmp_path, env=knobs) as server:
        yield server


def read_to_eof(sock: socket.socket) -> bytes:
    """Everything until the server closes; a socket timeout (GENEROUS) fails the test."""
    sock.settimeout(GENEROUS)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.gunicorn
def test_stalled_requests_free_their_threads(server: Server) -> None:
    """More connections than threads stop halfway (in the header, in a declared body):
    a normal request is still answered, every stalled socket is closed by the server, no
    stalled body turns into a 5xx, and each stall is one info line, not a traceback."""
    host, port = server.url.removeprefix("http://").split(":")
    with ExitStack() as stack:
        stalled = {}
        for i in range(THREADS):  # 2 x THREADS stalled connections
            for kind, data in (("header", HALF_HEADER), ("body", half_body())):
                sock = stack.enter_context(socket.create_connection((host, int(port)), 10))
                sock.sendall(data)
                stalled[f"{kind}-{i}"] = sock
        status, _, body = server.get("/healthz")  # urllib's timeout here is 10 s
        assert (status, body) == (200, b'{"status": "ok"}')
        answers = {name: read_to_eof(sock) for name, sock in stalled.items()}
    for name, answer in answers.items():
        assert not answer.startswith(b"HTTP/1.1 5"), (name, answer)
    stop(server.process, timeout=20)
    log = server.log
    assert log.count(STALLED_MESSAGE) >= THREADS, log  # the header stalls, at least
    assert "Traceback" not in log and "Socket error" not in log, log

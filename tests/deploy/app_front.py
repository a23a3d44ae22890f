"""The real app behind a shipped front end, for the live nginx and Caddy tests.

Real parts throughout: Knot answers DNS, the app runs under gunicorn as deployed
(the packaged gunicorn settings, one worker, so one settings cache) and the front end runs its
shipped file. :meth:`Stack.check` compares each answer through the front end with what the
app itself answers to the very same request line and Host, so an answer served for another
domain (a cache keyed wrongly) shows up as a wrong body.
"""

from __future__ import annotations

import functools
import http.client
import json
import re
import ssl
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import AbstractContextManager
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from tests.conftest import config
from tests.deploy._support import Site
from tests.deploy._support import SNIConnection
from tests.deploy._support import tls_context
from tests.knot import Knot
from tests.servers import Server
from tests.servers import deployed_gunicorn
from tests.zone_edit import SHORT

DOMAIN_HEADER = "x-autoconf-domain"
#: The names the front end serves here: several domains' autoconfig./autodiscover. names.
HOSTS = (
    "autoconfig.example.test",
    "autodiscover.example.test",
    "example.test",
    "autoconfig.pop.example.test",
    "autodiscover.pop.example.test",
    "autoconfig.alias.test",
    "alias.test",
    "autoconfig.xn--strae-oqa.example.test",
    "autoconfig.hosted.example.test",
    f"autoconfig.{SHORT}",
)
TB = "/mail/config-v1.1.xml"
TB_PATHS = (TB, "/.well-known/autoconfig/mail/config-v1.1.xml")
POX = "/autodiscover/autodiscover.xml"
#: Served domains whose Thunderbird documents all differ from each other.
DOMAINS = ("example.test", "pop.example.test", "hosted.example.test", "xn--strae-oqa.example.test")
#: Asking hosts for the cross-domain checks (a hoster's name and customers' own).
ASKING = ("autoconfig.example.test", "autoconfig.pop.example.test", "autoconfig.alias.test")


@dataclass(frozen=True)
class Answer:
    """What decides whether a client got the right answer."""

    status: int
    body: bytes
    location: str | None
    etag: str | None
    cache_control: str | None


def _answer(status: int, headers: dict[str, str], body: bytes) -> Answer:
    return Answer(
        status=status,
        body=body,
        location=headers.get("location"),
        etag=headers.get("etag"),
        cache_control=headers.get("cache-control"),
    )


def _visibility(answer: Answer) -> str:
    """public / private / no-store...: what Cache-Control says apart from the lifetime
    (which counts down between two requests, and which a hit carries in Expires only)."""
    return re.sub(r",? ?max-age=\d+", "", answer.cache_control or "")


@dataclass
class Stack:
    """A front end (``site``: nginx or Caddy) in front of the app (``app``)."""

    site: Site
    app: Server
    #: One kept-alive TLS connection per Host (a handshake per request would dominate).
    connections: dict[str, SNIConnection] = field(default_factory=dict)
    #: /healthz lines seen in the app's access log so far (see _app_hits).
    healthz_logged: int = 0

    def via_front(
        self, host: str, target: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> tuple[Answer, dict[str, str]]:
        for attempt in (1, 2):
            conn = self.connections.get(host)
            if conn is None:
                conn = SNIConnection(self.site.https_port, host, self._tls)
                self.connections[host] = conn
            try:
                conn.request(method, target, headers={"Host": host, **(headers or {})})
                resp = conn.getresponse()
                got = {k.lower(): v for k, v in resp.getheaders()}
                body = resp.read()
            except (http.client.HTTPException, OSError):
                # The front end closed an idle connection (keepalive timeout): once more, afresh.
                conn.close()
                del self.connections[host]
                if attempt == 2:
                    raise
                continue
            if got.get("connection", "").lower() == "close":
                conn.close()
                del self.connections[host]
            return _answer(resp.status, got, body), got
        raise AssertionError("unreachable")

    @functools.cached_property
    def _tls(self) -> ssl.SSLContext:
        return tls_context(self.site)

    def close(self) -> None:
        for conn in self.connections.values():
            conn.close()
        self.connections.clear()

    def direct(self, host: str, target: str, method: str = "GET") -> Answer:
        """The app's own answer to the same request line and Host, without nginx."""
        port = int(self.app.url.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request(method, target, headers={"Host": host})
            resp = conn.getresponse()
            headers = {k.lower(): v for k, v in resp.getheaders()}
            return _answer(resp.status, headers, resp.read())
        finally:
            conn.close()

    def check(self, host: str, target: str, method: str = "GET") -> str:
        """The front end's answer is the app's own; returns nginx's cache status (HIT,
        MISS, BYPASS...), "" without one."""
        got, headers = self.via_front(host, target, method)
        expected = self.direct(host, target, method)
        cache = headers.get("x-cache-status", "")
        where = (host, target, cache)
        assert (got.status, got.location, got.etag) == (
            expected.status,
            expected.location,
            expected.etag,
        ), where
        assert got.body == expected.body, where
        assert _visibility(got) == _visibility(expected), where
        assert DOMAIN_HEADER not in headers, where
        return cache


@contextmanager
def app_stack(
    front: Callable[[Path, int], AbstractContextManager[Site]],
    tmp: Path,
    knot: Knot,
    *,
    floor: int,
) -> Iterator[Stack]:
    """The app under gunicorn as deployed, answering from Knot with ``cache.floor`` =
    ``floor``, behind ``front(directory, app_port)``."""
    if knot.process is None:
        knot.start()
    mapping = config(nameservers=[knot.nameserver], timeout=1.0)
    mapping["cache"] = {"floor": floor}
    with deployed_gunicorn(mapping, tmp) as app, front(tmp / "front", port_of(app)) as site:
        running = Stack(site, app)
        try:
            yield running
        finally:
            running.close()


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def tb(domain: str, local: str = "alice", at: str = "%40", path: str = TB) -> str:
    """Thunderbird's request: encodeURIComponent() makes the "@" a "%40"."""
    return f"{path}?emailaddress={local}{at}{domain}"


#: /readyz and /metrics as a client could spell them; none may reach the app.
REFUSED = (
    "/readyz",
    "/metrics",
    "/READYZ",
    "/Metrics",
    "/readyz/",
    "/metrics/",
    "//readyz",
    "///metrics",
    "/%72eadyz",
    "/%6Detrics",
    "/./readyz",
    "/x/../readyz",
    "/readyz?full=1",
    "/metrics%2F",
    "/readyz%3Fx",
)


def check_refused(stack: Stack, target: str) -> None:
    """``target`` is answered 400/404 by the front end, with nothing of /readyz or
    /metrics in it, and the app never sees a request for either."""
    before = _app_hits(stack)
    for host in ("autoconfig.example.test", "autodiscover.example.test"):
        got, _ = stack.via_front(host, target)
        assert got.status in {400, 404}, (target, got.status)
        assert b"autoconf_" not in got.body and b'"status"' not in got.body
    assert _app_hits(stack) == before


def _app_hits(stack: Stack) -> int:
    """Requests for /readyz or /metrics in gunicorn's access log (JSON lines, the path
    only), counted once every earlier line is written: gunicorn logs after answering, so a
    /healthz asked now and seen in the log is the barrier."""
    barrier = stack.direct("127.0.0.1", "/healthz")
    assert barrier.status == 200
    paths = [json.loads(line).get("path", "") for line in _json_lines(stack.app.log)]
    seen = paths.count("/healthz")
    deadline = time.monotonic() + 10
    while seen <= stack.healthz_logged and time.monotonic() < deadline:
        time.sleep(0.05)
        paths = [json.loads(line).get("path", "") for line in _json_lines(stack.app.log)]
        seen = paths.count("/healthz")
    assert seen > stack.healthz_logged, "gunicorn did not log the barrier request"
    stack.healthz_logged = seen
    return sum(path.lower().rstrip("/") in {"/readyz", "/metrics"} for path in paths)


def _json_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("{") and '"path"' in line]

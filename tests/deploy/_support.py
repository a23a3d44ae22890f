"""Helpers shared by the live proxy tests: a recording stand-in upstream and SNI-aware clients."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from typing import Protocol

SECRET_QUERY = "emailaddress=query-marker-7c1f%40example.com&password=hunter2-marker"
#: Addresses in odd places and spellings of the path (issue 12 item 8): each local part is
#: "oddN-marker", which no access log may contain.
ODD_ADDRESS_PATHS = (
    "/mail/config-v1.1.xml/odd1-marker@example.com",
    "//autodiscover/autodiscover.json//v1.0/odd2-marker@example.com?Protocol=AutodiscoverV1",
    "/autodiscover/autodiscover.json//v1.0/odd3-marker@example.com",
    "/autodiscover/autodiscover.json/v1.0/odd4-marker%40example.com",
    "/x/odd5-marker%2540example.com/y",
    "/AutoDiscover/AutoDiscover.JSON/V1.0/odd6-marker@example.com",
    "/%61utodiscover/autodiscover.json/v1.0/odd7-marker@example.com",
    "/odd8-marker%40example.com",
    "/mail/odd9-marker@example.com/config-v1.1.xml?emailaddress=odd10-marker%40example.com",
    "/x/odd11-marker%252540example.com",
)
SECRET_AUTH = "Basic c2VjcmV0LXVzZXI6c2VjcmV0LXBhc3N3b3JkLW1hcmtlcg=="

# ---------------------------------------------------------------------------------------------
# Stand-in upstream
# ---------------------------------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Upstream:
    port: int
    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def last(self, marker: str) -> Seen:
        with self.lock:
            matching = [seen for seen in self.requests if marker in seen.path]
        assert matching, f"no request with {marker!r} reached the upstream"
        return matching[-1]

    def count(self, marker: str) -> int:
        with self.lock:
            return sum(marker in seen.path for seen in self.requests)


def _handler_for(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = Seen(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
            )
            with upstream.lock:
                upstream.requests.append(seen)
            if "want-401" in self.path:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="stand-in"')
            else:
                self.send_response(200)
            payload = b"<ok/>"
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def run_upstream() -> Iterator[Upstream]:
    """A threaded stdlib HTTP server on a free loopback port that records every request."""
    state = Upstream(0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------------


class Site(Protocol):
    """What the clients need to know about a running proxy."""

    http_port: int
    https_port: int
    ca: Any  # trustme.CA


class SNIConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 that presents a chosen SNI name (http.client sends none for an IP)."""

    def __init__(self, port: int, sni: str, context: ssl.SSLContext) -> None:
        super().__init__("127.0.0.1", port, timeout=10, context=context)
        self._sni = sni
        self._ctx = context

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(raw, server_hostname=self._sni)


def tls_context(site: Site) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    site.ca.configure_trust(ctx)
    return ctx


def https_request(
    site: Site,
    method: str,
    path: str,
    *,
    host: str = "autoconfig.example.com",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = SNIConnection(site.https_port, host, tls_context(site))
    try:
        conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def http_request(
    site: Site, method: str, path: str, *, host: str, body: bytes | None = None
) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", site.http_port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Host": host})
        resp = conn.getresponse()
        resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# The front-end contract (deploy/README "What every front end must do"), checked the same way
# against every shipped proxy: each test module calls these with its own running site.
# ---------------------------------------------------------------------------------------------

HOSTS = ("autoconfig.example.com", "autodiscover.example.com")
CAP = 16 * 1024
#: Outlook's "HTTP redirect" step, in the casings clients use.
OUTLOOK_HTTP_PATHS = (
    "/AutoDiscover/AutoDiscover.xml",
    "/autodiscover/autodiscover.xml",
    "/AUTODISCOVER/AUTODISCOVER.XML",
)
#: Plain-http URLs that must be redirected permanently, never answered.
OTHER_HTTP_PATHS = (
    "/mail/config-v1.1.xml?emailaddress=alice%40example.com",
    "/.well-known/autoconfig/mail/config-v1.1.xml",
    "/",
    "/mobileconfig",
)


def check_metrics_not_exposed(site: Site, upstream: Upstream, marker: str) -> None:
    """/metrics is answered 404 by the proxy itself and never reaches the app."""
    status, _, _ = https_request(site, "GET", f"/metrics?marker={marker}")
    assert status == 404
    assert upstream.count(marker) == 0


def check_tls_ask_not_exposed(site: Site, upstream: Upstream, marker: str) -> None:
    """/tls-ask (Caddy's on-demand TLS question) is answered 404 by the proxy itself, in
    any letter case and with a trailing slash, and never reaches the app."""
    for path in ("/tls-ask", "/TLS-Ask", "/tls-ask/"):
        status, _, _ = https_request(site, "GET", f"{path}?domain=autoconfig.{marker}.example")
        assert status == 404, path
    assert upstream.count(marker) == 0


def _post_body(site: Site, size: int, marker: str) -> int:
    """POST ``size`` bytes of XML to the Autodiscover URL; the status."""
    status, _, _ = https_request(
        site,
        "POST",
        f"/autodiscover/autodiscover.xml?marker={marker}",
        host="autodiscover.example.com",
        headers={"Content-Type": "text/xml"},
        body=b"y" * size,
    )
    return status


def check_body_under_cap_passes(site: Site, upstream: Upstream, marker: str) -> None:
    """A body just under the cap reaches the app whole (so a 413 is the size limit)."""
    assert _post_body(site, CAP - 1024, marker) == 200
    assert len(upstream.last(marker).body) == CAP - 1024


def check_body_over_cap_refused(site: Site, upstream: Upstream, marker: str) -> None:
    """A 20 KiB body is refused with 413 and never reaches the app."""
    assert _post_body(site, 20 * 1024, marker) == 413
    assert upstream.count(marker) == 0


def check_unknown_sni_rejected(site: Site) -> None:
    """A TLS name that is not ours gets no certificate: the handshake fails."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", site.https_port), timeout=5) as raw:
        try:
            ctx.wrap_socket(raw, server_hostname="mail.attacker.example")
        except ssl.SSLError:
            return
    raise AssertionError("handshake for an unknown name succeeded")


def check_unknown_host_on_80_silent(site: Site) -> None:
    """An unknown Host on port 80 gets the connection closed without a single byte."""
    with socket.create_connection(("127.0.0.1", site.http_port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: www.attacker.example\r\nConnection: close\r\n\r\n")
        assert sock.recv(1024) == b""


def check_outlook_http_step(site: Site, method: str, path: str) -> None:
    """http://autodiscover.<d>/autodiscover/autodiscover.xml (any case) is a 302 to https."""
    status, headers = http_request(
        site,
        method,
        path,
        host="autodiscover.example.com",
        body=b"<x/>" if method == "POST" else None,
    )
    assert status == 302
    assert headers["location"] == f"https://autodiscover.example.com{path}"


def check_other_http_redirected(site: Site, upstream: Upstream, host: str, path: str) -> None:
    """Everything else on port 80 is a 301 to the same URL on https, never the app."""
    before = len(upstream.requests)
    status, headers = http_request(site, "GET", path, host=host)
    assert status == 301
    assert headers["location"] == f"https://{host}{path}"
    assert len(upstream.requests) == before

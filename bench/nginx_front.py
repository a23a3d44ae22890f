"""The shipped nginx vhost, cache included, beside nginx serving a static file (bench/run.py).

One nginx (``worker_processes auto``, as Debian ships it) runs the shipped vhost in front of
the app, rewritten only as its header says (ports, names, paths; the request rate raised, as
one benchmark client is one address), plus a second TLS server with the same TLS settings and
the same JSON access log that serves the Thunderbird document's bytes from a file. Both are
reached over HTTPS with a new connection per request, like mail clients.
"""

from __future__ import annotations

import shutil
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.deploy.nginx_site import build_site
from tests.deploy.nginx_site import running
from tests.knot import free_port

TB = "/mail/config-v1.1.xml"

STATIC_SERVER = """
# bench/nginx_front.py: the same document as a static file, same TLS and log settings.
server {{
    listen 127.0.0.1:{port} ssl;
    server_name {host};
    ssl_certificate {tls}/fullchain.pem;
    ssl_certificate_key {tls}/privkey.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers off;
    ssl_session_cache shared:autoconf_tls:10m;
    ssl_session_timeout 1h;
    ssl_session_tickets off;
    server_tokens off;
    access_log {logs}/static.access.log autoconf_json;
    root {root};
    location = {path} {{
        default_type "text/xml; charset=utf-8";
    }}
}}
"""


@dataclass(frozen=True)
class Fronts:
    """Base URLs (the host name resolves only inside wrk: see :func:`lua_loopback`)."""

    cached: str
    static: str


def nginx_binary() -> str | None:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    return found


@contextmanager
def fronts(work: Path, app_url: str, body: bytes, host: str) -> Iterator[Fronts]:
    """nginx with the shipped vhost in front of ``app_url`` and the static server."""
    nginx = nginx_binary()
    if nginx is None:
        raise RuntimeError("nginx is not installed (Debian package nginx)")
    app_port = int(app_url.rsplit(":", 1)[1])
    site = build_site(
        work / "nginx",
        free_port,
        app_port,
        hosts=(host,),
        rate="1000000r/s",
        worker_processes="auto",
    )
    root = work / "static"
    (root / "mail").mkdir(parents=True)
    (root / TB.lstrip("/")).write_bytes(body)
    static_port = free_port()
    with site.vhost.open("a") as vhost:
        vhost.write(
            STATIC_SERVER.format(
                port=static_port,
                host=host,
                tls=site.prefix / "tls",
                logs=site.prefix / "logs",
                root=root,
                path=TB,
            )
        )
    with running(nginx, site):
        urls = Fronts(
            cached=f"https://{host}:{site.https_port}", static=f"https://{host}:{static_port}"
        )
        served = fetch(site.https_port, host, f"{TB}?emailaddress=check%40{host.split('.', 1)[1]}")
        again = fetch(site.https_port, host, f"{TB}?emailaddress=again%40{host.split('.', 1)[1]}")
        if (served[0], again[0], again[1]) != (200, 200, "HIT") or again[2] != body:
            raise RuntimeError(f"the vhost does not serve the document from its cache: {again}")
        if fetch(static_port, host, TB)[2] != body:
            raise RuntimeError("the static server does not serve the document")
        yield urls


def fetch(port: int, host: str, target: str) -> tuple[int, str, bytes]:
    """(status, X-Cache-Status, body) of one HTTPS request with SNI ``host``."""
    import http.client

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.sock = ctx.wrap_socket(raw, server_hostname=host)
    try:
        conn.request("GET", target, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.getheader("X-Cache-Status", ""), response.read()
    finally:
        conn.close()


def lua_loopback() -> str:
    """wrk connects to 127.0.0.1 whatever the URL's host, which it still sends as SNI and
    Host (the vhost rejects TLS for names that are not its own)."""
    return (
        "wrk.resolve = function(host, service)\n"
        '  wrk.addrs = wrk.lookup("127.0.0.1", service)\n'
        "end\n"
    )


def lua_static() -> str:
    return lua_loopback() + f'wrk.method = "GET"\nwrk.path = "{TB}"\n'


def lua_cached_users(first: int, domain: str) -> str:
    """Every request a new address at the warm domain, "@" encoded as Thunderbird does."""
    return lua_loopback() + (
        f"local n = {first}\n"
        "request = function()\n"
        "  n = n + 1\n"
        f'  return wrk.format("GET", "{TB}?emailaddress=user" .. n .. "%40{domain}")\n'
        "end\n"
    )

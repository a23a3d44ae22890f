"""The shipped nginx vhost, cache included, beside nginx serving a static file (bench/run.py).

One nginx (``worker_processes auto``, as Debian ships it) runs the shipped vhost in front of
the app, rewritten only as its header says (ports, names, paths; the request rate raised, as
one benchmark client is one address), plus a second server with the same TLS settings and
the same JSON access log that serves the Thunderbird document's bytes from a file. Both are
reached over HTTPS with a new connection per request, like mail clients.

Both are also reached over plain HTTP, still a new connection per request, so that what the
cache costs shows without a TLS handshake per request hiding it. For that, and only in this
generated bench copy (deploy/ is never changed), the shipped port-443 server gets one more
line, a plain ``listen 127.0.0.1:<port>;`` beside its ``listen ... ssl;``: the same server
block, so the very same limits, maps, cache key, cache zone, headers and access log, only no
TLS on that port (the ``ssl_*`` directives apply to the ``ssl`` listener alone). The shipped
port-80 server, which only redirects to https, is left as it is. The static server gets a
plain ``listen`` of its own the same way.
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
    listen 127.0.0.1:{plain_port};
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
    #: The same two servers over plain HTTP.
    cached_http: str
    static_http: str


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
    cached_plain_port = free_port()
    add_plain_listen(site.vhost, site.https_port, cached_plain_port)
    root = work / "static"
    (root / "mail").mkdir(parents=True)
    (root / TB.lstrip("/")).write_bytes(body)
    static_port, static_plain_port = free_port(), free_port()
    with site.vhost.open("a") as vhost:
        vhost.write(
            STATIC_SERVER.format(
                port=static_port,
                plain_port=static_plain_port,
                host=host,
                tls=site.prefix / "tls",
                logs=site.prefix / "logs",
                root=root,
                path=TB,
            )
        )
    with running(nginx, site):
        urls = Fronts(
            cached=f"https://{host}:{site.https_port}",
            static=f"https://{host}:{static_port}",
            cached_http=f"http://{host}:{cached_plain_port}",
            static_http=f"http://{host}:{static_plain_port}",
        )
        domain = host.split(".", 1)[1]
        for port, tls in ((site.https_port, True), (cached_plain_port, False)):
            served = fetch(port, host, f"{TB}?emailaddress=check%40{domain}", tls=tls)
            again = fetch(port, host, f"{TB}?emailaddress=again%40{domain}", tls=tls)
            if (served[0], again[0], again[1]) != (200, 200, "HIT") or again[2] != body:
                raise RuntimeError(
                    f"the vhost (port {port}, TLS {tls}) does not serve the document from its "
                    f"cache: {again}"
                )
        for port, tls in ((static_port, True), (static_plain_port, False)):
            if fetch(port, host, TB, tls=tls)[2] != body:
                raise RuntimeError(f"the static server (port {port}, TLS {tls}) fails")
        yield urls


def add_plain_listen(vhost: Path, https_port: int, plain_port: int) -> None:
    """A plain-HTTP ``listen`` in the shipped port-443 server block, beside its TLS one."""
    text = vhost.read_text()
    tls_listen = f"    listen 127.0.0.1:{https_port} ssl;\n"
    # The shipped port-443 server's line; the catch-all server's carries default_server.
    assert text.count(tls_listen) == 1, "the vhost's port-443 server block is not found"
    vhost.write_text(
        text.replace(
            tls_listen,
            tls_listen
            + "    # bench/nginx_front.py: the same server over plain HTTP (bench copy only).\n"
            + f"    listen 127.0.0.1:{plain_port};\n",
        )
    )


def fetch(port: int, host: str, target: str, *, tls: bool = True) -> tuple[int, str, bytes]:
    """(status, X-Cache-Status, body) of one request, over HTTPS with SNI ``host`` or over
    plain HTTP."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        conn.sock = ctx.wrap_socket(raw, server_hostname=host)
    try:
        conn.request("GET", target, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.getheader("X-Cache-Status", ""), response.read()
    finally:
        conn.close()


def lua_loopback() -> str:
    """wrk connects to 127.0.0.1 whatever the URL's host, which it still sends as SNI and
    Host (the vhost rejects TLS for names that are not its own; over plain HTTP the Host
    alone picks the server)."""
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

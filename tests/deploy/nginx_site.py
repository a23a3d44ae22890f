"""The shipped nginx vhost in a temp prefix, for the live tests and the benchmark.

The vhost is copied with only what its header says to change rewritten: listen ports
(loopback, free), certificate paths (throwaway trustme certificates), log and cache paths,
the upstream, and where asked the host names and the request rate. It is wrapped in a
generated nginx.conf, and run as a foreground nginx.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.processes import stop
from tests.processes import wait_for_port

REPO = Path(__file__).resolve().parents[2]
VHOST = REPO / "deploy" / "nginx" / "autoconf.conf"
#: The names the shipped vhost serves (and the test certificates cover by default).
SHIPPED_HOSTS = ("autoconfig.example.com", "autodiscover.example.com")
SHIPPED_CACHE = "/var/lib/nginx/autoconf-cache"


@dataclass
class Site:
    prefix: Path
    conf: Path
    vhost: Path
    http_port: int
    https_port: int
    ca: Any  # trustme.CA

    @property
    def access_log(self) -> Path:
        return self.prefix / "logs" / "autoconf.access.log"

    @property
    def vhost_error_log(self) -> Path:
        return self.prefix / "logs" / "autoconf.error.log"

    @property
    def cache_dir(self) -> Path:
        return self.prefix / "cache" / "autoconf"


def replace(text: str, old: str, new: str) -> str:
    """Replace, insisting the shipped file still contains what the test rewrites."""
    assert old in text, f"deploy/nginx/autoconf.conf no longer contains {old!r}"
    return text.replace(old, new)


def build_site(
    tmp: Path,
    ports: Callable[[], int],
    upstream_port: int,
    *,
    hosts: Sequence[str] = SHIPPED_HOSTS,
    rate: str = "",
    worker_processes: str = "1",
    text: str | None = None,
) -> Site:
    """The vhost (``text``, default the shipped file) under ``tmp``, proxying to
    ``upstream_port``; ``rate`` replaces the shipped 10 r/s (one test client is one
    address, as in tests/lab)."""
    import trustme

    for sub in ("logs", "tls", "tmp", "cache"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)

    ca = trustme.CA()
    cert = ca.issue_cert(*hosts)
    chain = tmp / "tls" / "fullchain.pem"
    key = tmp / "tls" / "privkey.pem"
    cert.private_key_pem.write_to_path(str(key))
    with chain.open("wb") as fh:
        for blob in cert.cert_chain_pems:
            fh.write(blob.bytes())

    http_port, https_port = ports(), ports()
    text = VHOST.read_text() if text is None else text
    text = replace(text, SHIPPED_CACHE, str(tmp / "cache" / "autoconf"))
    if tuple(hosts) != SHIPPED_HOSTS:
        text = replace(text, " ".join(SHIPPED_HOSTS), " ".join(hosts))
    if rate:
        text = replace(text, "rate=10r/s", f"rate={rate}")
    text = replace(
        text, "listen 80 default_server;", f"listen 127.0.0.1:{http_port} default_server;"
    )
    text = replace(
        text, "listen 443 ssl default_server;", f"listen 127.0.0.1:{https_port} ssl default_server;"
    )
    text = replace(text, "listen 80;", f"listen 127.0.0.1:{http_port};")
    text = replace(text, "listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    # IPv6 may be unavailable in a test container; the IPv4 lines carry the same config.
    assert "listen [::]:" in text
    text = re.sub(r"^\s*listen \[::\]:.*\n", "", text, flags=re.M)
    text = replace(text, "/etc/ssl/autoconf/fullchain.pem", str(chain))
    text = replace(text, "/etc/ssl/autoconf/privkey.pem", str(key))
    text = replace(text, "/var/log/nginx/", f"{tmp / 'logs'}/")
    text = replace(text, "server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};")
    assert not re.search(r"listen\s+(80|443)\b", text), "an unrewritten listen line is left"

    vhost = tmp / "autoconf.conf"
    vhost.write_text(text)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""{user}worker_processes {worker_processes};
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/logs/main-error.log info;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {tmp}/tmp/body;
    proxy_temp_path {tmp}/tmp/proxy;
    fastcgi_temp_path {tmp}/tmp/fastcgi;
    uwsgi_temp_path {tmp}/tmp/uwsgi;
    scgi_temp_path {tmp}/tmp/scgi;
    access_log {tmp}/logs/main-access.log;
    include {vhost};
}}
"""
    )
    return Site(tmp, conf, vhost, http_port, https_port, ca)


def nginx_cmd(nginx: str, site: Site, *extra: str) -> list[str]:
    return [
        nginx,
        "-p",
        str(site.prefix),
        "-c",
        str(site.conf),
        "-e",
        str(site.prefix / "logs" / "startup.log"),
        *extra,
    ]


def nginx_test(nginx: str, site: Site) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on the site's configuration."""
    return subprocess.run(nginx_cmd(nginx, site, "-t"), capture_output=True, text=True, timeout=30)


@contextmanager
def running(nginx: str, site: Site) -> Iterator[Site]:
    """nginx in the foreground for the block, checked with ``nginx -t`` first."""
    checked = nginx_test(nginx, site)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen(
        nginx_cmd(nginx, site), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(site.http_port, proc, "nginx")
        wait_for_port(site.https_port, proc, "nginx")
        yield site
    finally:
        stop(proc)

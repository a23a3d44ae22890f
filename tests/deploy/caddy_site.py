"""The shipped Caddyfile on loopback, for the live tests.

The copy under test gets free ports, throwaway trustme certificates (the shipped file relies
on automatic ACME, which needs the internet), a temp log file, the given upstream and, where
asked, other host names.
"""

from __future__ import annotations

import os
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
CADDYFILE = REPO / "deploy" / "Caddyfile"
SHIPPED_HOSTS = ("autoconfig.example.com", "autodiscover.example.com")


@dataclass
class CaddySite:
    prefix: Path
    caddyfile: Path
    http_port: int
    https_port: int
    ca: Any  # trustme.CA

    @property
    def access_log(self) -> Path:
        return self.prefix / "autoconf.access.log"


def caddy_env(home: Path) -> dict[str, str]:
    """Caddy keeps its state under $HOME / $XDG_*: point all of it into ``home``."""
    env = dict(os.environ)
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "cfg"))
    return env


def replace(text: str, old: str, new: str) -> str:
    assert old in text, f"deploy/Caddyfile no longer contains {old!r}"
    return text.replace(old, new)


def build_site(
    tmp: Path,
    ports: Callable[[], int],
    upstream_port: int,
    *,
    hosts: Sequence[str] = SHIPPED_HOSTS,
) -> CaddySite:
    import trustme

    tmp.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert(*hosts)
    chain, key = tmp / "fullchain.pem", tmp / "privkey.pem"
    cert.private_key_pem.write_to_path(str(key))
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    http_port, https_port = ports(), ports()

    text = CADDYFILE.read_text()
    text = replace(
        text,
        "\temail admin@example.com\n",
        f"\temail admin@example.com\n\tadmin off\n\thttp_port {http_port}\n"
        f"\thttps_port {https_port}\n\tdefault_bind 127.0.0.1\n"
        f"\tstorage file_system {{\n\t\troot {tmp / 'storage'}\n\t}}\n",
    )
    text = replace(
        text,
        "# tls /etc/ssl/autoconf/fullchain.pem /etc/ssl/autoconf/privkey.pem",
        f"tls {chain} {key}",
    )
    if tuple(hosts) != SHIPPED_HOSTS:
        for scheme in ("http://", ""):
            shipped = ", ".join(f"{scheme}{name}" for name in SHIPPED_HOSTS)
            text = replace(
                text, f"\n{shipped} {{", "\n" + ", ".join(f"{scheme}{h}" for h in hosts) + " {"
            )
    text = replace(text, "/var/log/caddy/autoconf.access.log", str(tmp / "autoconf.access.log"))
    text = replace(text, "reverse_proxy 127.0.0.1:8000", f"reverse_proxy 127.0.0.1:{upstream_port}")
    caddyfile = tmp / "Caddyfile"
    caddyfile.write_text(text)
    return CaddySite(tmp, caddyfile, http_port, https_port, ca)


@contextmanager
def running(caddy: str, site: CaddySite) -> Iterator[CaddySite]:
    """``caddy run`` for the block."""
    log = (site.prefix / "caddy.log").open("wb")
    proc = subprocess.Popen(
        [caddy, "run", "--config", str(site.caddyfile), "--adapter", "caddyfile"],
        env=caddy_env(site.prefix),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(site.http_port, proc, "caddy")
        wait_for_port(site.https_port, proc, "caddy")
        yield site
    finally:
        stop(proc)
        log.close()

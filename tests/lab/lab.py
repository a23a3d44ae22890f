"""The real-client lab: Knot (signing) -> unbound (validating) -> gunicorn <- nginx (TLS).

Everything runs inside one :class:`~tests.lab.netns.Namespace` on 127.0.0.1:

========  ============  ==================================================================
port      process       role
========  ============  ==================================================================
5300      knotd         authoritative for lab.test (DNSSEC-signed), provider.test, unsigned.test
53        unbound       validating resolver (the namespace's resolv.conf), trust anchor lab.test
8000      gunicorn      the shipped command (``autoconf.server.command()``)
80, 443   nginx         ``deploy/nginx/autoconf.conf`` with only names, paths and ports substituted
========  ============  ==================================================================
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import trustme

from autoconf.server import command
from tests.lab.hosted import hosted_host_names
from tests.lab.hosted import with_hosting
from tests.lab.netns import Namespace
from tests.lab.variants import ALIAS
from tests.lab.variants import VARIANTS
from tests.lab.variants import lab_config
from tests.servers import ROOT
from tests.servers import to_toml

HERE = Path(__file__).parent
ZONES = HERE / "zones"
VHOST = ROOT / "deploy" / "nginx" / "autoconf.conf"
SIGNED_ZONE = "lab.test"
KNOT_PORT = 5300
UPSTREAM = "127.0.0.1:8000"

KNOT_CONF = """\
server:
    listen: 127.0.0.1@{port}
    rundir: {run}
database:
    storage: {run}
log:
  - target: {run}/knot.log
    any: info
policy:
  - id: lab
    algorithm: ecdsap256sha256
    nsec3: off
template:
  - id: default
    storage: {zones}
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: {signed}
    dnssec-signing: on
    dnssec-policy: lab
{unsigned}
"""

UNBOUND_CONF = """\
server:
    interface: 127.0.0.1@53
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{run}"
    pidfile: "{run}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    val-log-level: 2
    access-control: 127.0.0.0/8 allow
    do-ip6: no
    # Knot listens on loopback too.
    do-not-query-localhost: no
    # .test is a built-in empty local zone (RFC 6761 6.2) until told otherwise (unbound.conf(5)).
    local-zone: "test." nodefault
    trust-anchor: "{anchor}"
{stubs}
"""

# Workers run as root: they write the vhost's proxy cache below the test's temp directory,
# which only root may enter (the shipped path, /var/lib/nginx, is nginx's own).
NGINX_CONF = """\
user root;
daemon off;
master_process on;
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/nginx.error.log warn;
events {{
    worker_connections 128;
}}
http {{
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    include {vhost};
    # Server blocks the lab adds later (the DAV host, tests/lab/mailservers.py).
    include {vhosts}/*.conf;
}}
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """One HTTP exchange as curl saw it inside the namespace."""

    status: int
    headers: dict[str, str]
    body: bytes
    #: Every status line and header block, redirects included.
    raw_headers: str


def host_names() -> list[str]:
    """Every HTTP name of the lab: ``autoconfig.``/``autodiscover.`` of each variant and
    of the alias domain, and the hosted variant's names."""
    domains = [*(v.domain for v in VARIANTS), ALIAS]
    ours = [f"{prefix}.{d}" for d in domains for prefix in ("autoconfig", "autodiscover")]
    return ours + hosted_host_names()


def vhost_for_lab(text: str, *, cert: Path, key: Path, logs: Path) -> str:
    """The shipped vhost with only what its header says to change: names, certificate
    paths, log and cache paths and the request rate (the upstream stays 127.0.0.1:8000,
    free inside the namespace).

    The rate: every lab client runs from 127.0.0.1 and sets up eight accounts within
    seconds (Thunderbird alone sends ~12 requests per account), far past the shipped
    10 r/s with a burst of 40 per address, which answers 429; Delta Chat then quietly
    moves on to its next URL. One real user's setup fits the shipped limit.

    Every replaced string must be present, so a changed vhost fails the lab loudly instead
    of being tested half-substituted.
    """
    replacements = {
        "autoconfig.example.com autodiscover.example.com": " ".join(host_names()),
        "/etc/ssl/autoconf/fullchain.pem": str(cert),
        "/etc/ssl/autoconf/privkey.pem": str(key),
        "/var/log/nginx/autoconf.": f"{logs}/autoconf.",
        "/var/lib/nginx/autoconf-cache": f"{logs}/autoconf-cache",
        "rate=10r/s": "rate=1000r/s",
    }
    for old, new in replacements.items():
        if old not in text:
            raise AssertionError(f"deploy/nginx/autoconf.conf no longer contains {old!r}")
        text = text.replace(old, new)
    if UPSTREAM not in text:
        raise AssertionError(f"deploy/nginx/autoconf.conf no longer proxies to {UPSTREAM}")
    return text


class Lab:
    """The running lab; build with :meth:`start`, always :meth:`close`."""

    def __init__(self, workdir: Path, namespace: Namespace) -> None:
        self.workdir = workdir
        self.ns = namespace
        self.run_dir = workdir / "run"
        self.run_dir.mkdir()
        self.ca = trustme.CA(organization_name="autoconf lab CA")
        self.ca_pem = workdir / "ca.pem"
        #: Extra nginx server blocks (see :meth:`reload_nginx`).
        self.vhosts = workdir / "vhosts"
        self.vhosts.mkdir()
        self.ca.cert_pem.write_to_path(str(self.ca_pem))
        self._curl_count = 0

    @classmethod
    def start(cls, workdir: Path) -> Lab:
        lab = cls(workdir, Namespace.create())
        try:
            lab._start_knot()
            lab._start_unbound()
            lab._start_gunicorn()
            lab._start_nginx()
        except BaseException:
            lab.close()
            raise
        return lab

    def close(self) -> None:
        self.ns.close()

    # --- DNS ----------------------------------------------------------------------------

    def _start_knot(self) -> None:
        zones = self.workdir / "zones"
        shutil.copytree(ZONES, zones)
        others = sorted(p.name.removesuffix(".zone") for p in ZONES.glob("*.zone"))
        unsigned = "\n".join(f"  - domain: {z}" for z in others if z != SIGNED_ZONE)
        config = self.workdir / "knot.conf"
        config.write_text(
            KNOT_CONF.format(
                port=KNOT_PORT, run=self.run_dir, zones=zones, signed=SIGNED_ZONE, unsigned=unsigned
            )
        )
        self.ns.spawn(["knotd", "-c", str(config)], self.run_dir / "knotd.out")
        # Signed means the DNSKEY RRset is published; unbound needs it as its trust anchor.
        self._wait("knotd signing lab.test", lambda: bool(self.ksk()), self.run_dir / "knot.log")

    def dig(self, *args: str, server: str = "127.0.0.1", port: int = 53) -> str:
        """``kdig`` inside the namespace; its stdout."""
        done = self.ns.run("kdig", f"@{server}", "-p", str(port), "+time=1", "+retry=0", *args)
        return done.stdout

    def ksk(self) -> str:
        """The zone's key-signing DNSKEY (flags 257) as Knot publishes it, or ""."""
        text = self.dig("DNSKEY", SIGNED_ZONE, "+short", port=KNOT_PORT)
        return next((line for line in text.splitlines() if line.startswith("257 ")), "")

    def _start_unbound(self) -> None:
        stubs = "".join(
            f'stub-zone:\n    name: "{z.name.removesuffix(".zone")}"\n'
            f"    stub-addr: 127.0.0.1@{KNOT_PORT}\n"
            for z in sorted(ZONES.glob("*.zone"))
        )
        anchor = f"{SIGNED_ZONE}. DNSKEY {self.ksk()}"
        config = self.workdir / "unbound.conf"
        config.write_text(UNBOUND_CONF.format(run=self.run_dir, anchor=anchor, stubs=stubs))
        log = self.run_dir / "unbound.out"
        self.ns.spawn(["unbound", "-d", "-c", str(config)], log)
        self._wait(
            "unbound validating lab.test",
            lambda: "ad" in header_flags(self.dig("+dnssec", "SOA", SIGNED_ZONE)),
            log,
        )

    # --- HTTP ---------------------------------------------------------------------------

    def _start_gunicorn(self) -> None:
        config = self.workdir / "autoconf.toml"
        config.write_text(to_toml(with_hosting(lab_config())))
        env = {
            "AUTOCONF_CONFIG": str(config),
            "AUTOCONF_BIND": UPSTREAM,
            "AUTOCONF_WORKERS": "1",
            "AUTOCONF_THREADS": "4",
            "PYTHONPATH": str(ROOT),
        }
        *argv, app = command()
        argv += ["--chdir", str(ROOT), app]
        log = self.run_dir / "gunicorn.log"
        self.ns.spawn(argv, log, env=env)
        self._wait(
            "gunicorn", lambda: self._curl_status(f"http://{UPSTREAM}/healthz") == "200", log
        )

    def _start_nginx(self) -> None:
        cert = self.ca.issue_cert(*host_names())
        chain, key = self.workdir / "fullchain.pem", self.workdir / "privkey.pem"
        chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
        cert.private_key_pem.write_to_path(str(key))
        vhost = self.workdir / "autoconf.conf"
        vhost.write_text(vhost_for_lab(VHOST.read_text(), cert=chain, key=key, logs=self.run_dir))
        config = self.workdir / "nginx.conf"
        config.write_text(NGINX_CONF.format(run=self.run_dir, vhost=vhost, vhosts=self.vhosts))
        check = self.ns.run("nginx", "-t", "-c", str(config), "-e", str(self.run_dir / "t.log"))
        assert check.returncode == 0, check.stderr
        log = self.run_dir / "nginx.out"
        self.ns.spawn(["nginx", "-c", str(config), "-e", str(self.run_dir / "nginx.err")], log)
        url = f"https://autoconfig.{VARIANTS[0].domain}/healthz"
        self._wait("nginx", lambda: self._curl_status(url) == "200", log)

    def reload_nginx(self) -> None:
        """Make nginx read :attr:`vhosts` again (after a test added a server block)."""
        config = str(self.workdir / "nginx.conf")
        check = self.ns.run("nginx", "-t", "-c", config, "-e", str(self.run_dir / "t.log"))
        assert check.returncode == 0, check.stderr
        done = self.ns.run("nginx", "-s", "reload", "-c", config, "-e", "/dev/null")
        assert done.returncode == 0, done.stderr

    def _curl_status(self, url: str) -> str:
        done = self.ns.run(
            "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", str(self.ca_pem), url
        )
        return done.stdout

    def curl(self, url: str, *options: str) -> Response:
        """``curl`` inside the namespace, trusting the lab CA; ``options`` go before the URL."""
        self._curl_count += 1
        headers_file = self.workdir / f"curl-{self._curl_count}.headers"
        body_file = self.workdir / f"curl-{self._curl_count}.body"
        done = self.ns.run(
            "curl", "-sS", "--cacert", str(self.ca_pem), "-D", str(headers_file),
            "-o", str(body_file), "-w", "%{json}", *options, url,
        )  # fmt: skip
        assert done.returncode == 0, f"curl {url}: {done.stderr}"
        info = json.loads(done.stdout)
        raw = headers_file.read_text(errors="replace")
        return Response(
            status=int(info["http_code"]),
            headers=_last_headers(raw),
            body=body_file.read_bytes(),
            raw_headers=raw,
        )

    def _wait(self, what: str, ready: Callable[[], bool], log: Path, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.ns.processes):
                break
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{what} did not come up:\n{_tail(log)}")

    def logs(self, names: Iterable[str] = ()) -> str:
        """The named log files of the run directory (all when none named), for messages."""
        paths = [self.run_dir / n for n in names] or sorted(self.run_dir.glob("*.log"))
        return "\n".join(f"== {p.name}\n{_tail(p)}" for p in paths if p.is_file())


def header_flags(kdig_output: str) -> set[str]:
    """The header flags (``qr``, ``aa``, ``ad``, ...) of a kdig answer."""
    found = re.search(r"^;; Flags: ([a-z ]*);", kdig_output, re.MULTILINE)
    return set(found.group(1).split()) if found else set()


def _last_headers(raw: str) -> dict[str, str]:
    """The header block of the final response (curl writes one block per hop)."""
    block = raw.strip().split("\r\n\r\n")[-1]
    headers = {}
    for line in block.splitlines()[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"

"""A real Knot DNS authoritative server on a free loopback port, for the tests.

Started from copies of the zone files in ``tests/zones`` (so a test may edit them), with a
control socket so tests can reload zones or stop and restart the server.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode

from tests import binaries
from tests.processes import stop as stop_process

ZONES = Path(__file__).parent / "zones"
SERVED_ZONES = ("example.test", "broken.test", "hoster.test", "customers.test")

CONFIG = """\
server:
    listen: 127.0.0.1@{port}
    rundir: {run}
control:
    listen: {run}/knot.sock
database:
    storage: {run}
log:
  - target: {run}/knot.log
    any: info
mod-stats:
  - id: counters
    request-protocol: on
    query-type: on
template:
  - id: default
    global-module: mod-stats/counters
    storage: {zones}
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
{zone_list}
"""


def knotd_path() -> str | None:
    """The knotd binary, or None when Knot DNS is not installed (knotc comes with it)."""
    return binaries.find("knotd") if binaries.find("knotc") else None


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (good enough for tests)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port


class Knot:
    """One knotd process; ``start``/``stop`` may be called repeatedly."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.zones = workdir / "zones"
        self.run = workdir / "run"
        self.port = free_port()
        self.address = "127.0.0.1"
        self.process: subprocess.Popen[bytes] | None = None
        shutil.copytree(ZONES, self.zones)
        self.run.mkdir()
        self.config = workdir / "knot.conf"
        zone_list = "\n".join(f"  - domain: {z}" for z in SERVED_ZONES)
        self.config.write_text(
            CONFIG.format(port=self.port, run=self.run, zones=self.zones, zone_list=zone_list)
        )

    @property
    def nameserver(self) -> str:
        """The ``dns.nameservers`` entry pointing at this server."""
        return f"{self.address}:{self.port}"

    def start(self) -> None:
        knotd = knotd_path()
        assert knotd, "knotd not installed"
        self.process = subprocess.Popen(
            [knotd, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_serving()

    def _wait_serving(self) -> None:
        query = dns.message.make_query("example.test.", "SOA")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"knotd exited: {self.log()}")
            try:
                reply = dns.query.udp(
                    query, self.address, port=self.port, timeout=0.2, ignore_unexpected=True
                )
                if reply.rcode() == dns.rcode.NOERROR and reply.answer:
                    return
            except (OSError, dns.exception.DNSException):
                # Timeout, or a reply that is not to this query (BadResponse: a late answer
                # to an earlier socket that had the same loopback port on a busy machine).
                pass
            time.sleep(0.05)
        raise RuntimeError(f"knotd did not start serving: {self.log()}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        self.process = None

    @staticmethod
    def _knotc() -> str:
        # By path: knotc lives in /usr/sbin, which a normal user's PATH lacks.
        knotc = binaries.find("knotc")
        assert knotc, "knotc not installed"
        return knotc

    def reload(self) -> None:
        """Re-read every zone file (bump the SOA serial first)."""
        subprocess.run(
            [self._knotc(), "-c", str(self.config), "zone-reload"],
            check=True,
            capture_output=True,
            timeout=10,
        )

    def stats(self) -> dict[str, int]:
        """Knot's own mod-stats counters (``request-protocol[udp4]``, ``query-type[SRV]``...),
        counted by the server itself: what the service really asked, whatever its code says.
        Counters are cumulative while knotd runs; absent ones have not happened yet."""
        result = subprocess.run(
            [self._knotc(), "-c", str(self.config), "stats", "mod-stats"],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        )
        counters = {}
        for line in result.stdout.splitlines():
            name, _, value = line.partition(" = ")
            if value.strip().isdigit():
                counters[name.strip().removeprefix("mod-stats.")] = int(value)
        return counters

    def queries(self) -> int:
        """Every DNS request Knot received so far, over any transport."""
        return sum(n for k, n in self.stats().items() if k.startswith("request-protocol["))

    def log(self) -> str:
        path = self.run / "knot.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

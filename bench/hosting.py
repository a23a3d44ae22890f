"""Hosted mode benchmark (issue 15): what [hosting] costs, next to listed domains.

    .venv/bin/python bench/hosting.py [--duration 5] [--rounds 3] [--domains 100000]

Loopback only, the same gunicorn settings and wrk runs as ``bench/run.py`` (gthread, 2
workers x 4 threads, ``Connection: close``, best of N interleaved rounds). Knot serves a
generated zone: a provider ``p.bench.test`` (SRV records under ``mail.p.bench.test``),
``--domains`` listed-style domains ``d<N>`` with their own SRV records and ``--domains``
hosted customers ``h<N>`` that publish only ``MX 10 mx.mail.p.bench.test.``. Rows:

- warm: one listed domain and one hosted (MX) domain on the same server with hosting on,
  and the listed domain on a server with hosting off (the price of turning it on);
- cold decisions: every request a hosted domain never seen (17 questions each), budget
  raised out of the way, so the row is what a worker can decide per second;
- flood: every request a random stranger's name (NXDOMAIN) with the default budget
  (20 cold decisions per second per worker): the answers per second (mostly 503), and the
  queries Knot saw per second against the bound 2 x 20 x 17;
- in-process p50 of a warm listed and a warm hosted answer, and of a cold decision;
- worker RSS after 100 000 hosted domains decided (records mirrored in process, as in
  ``bench/rss.py``), against the same for listed domains.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from run import GUNICORN  # noqa: E402
from run import Row  # noqa: E402
from run import gunicorn_server  # noqa: E402
from run import inproc  # noqa: E402
from run import lua_get  # noqa: E402
from run import wrk  # noqa: E402

from tests.knot import Knot  # noqa: E402

ZONE = "bench.test"
PROVIDER = f"p.{ZONE}"
MAIL_HOST = f"mail.{PROVIDER}"
TB = "/mail/config-v1.1.xml?emailaddress=alice@{domain}"
LISTED = 1000  # listed domains in the configuration (lookup cost does not depend on it)
WORKERS = 2  # as in GUNICORN
RATE = 20  # the default budget, cold decisions per second per worker
QUESTIONS = 17  # per decision


def zone_text(count: int) -> str:
    lines = [
        f"$ORIGIN {ZONE}.",
        "$TTL 3600",
        f"@ SOA ns.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 300",
        f"@ NS ns.{ZONE}.",
        "ns A 127.0.0.1",
        f"_imaps._tcp.p SRV 0 1 993 imap.{MAIL_HOST}.",
        f"_submissions._tcp.p SRV 0 1 465 smtp.{MAIL_HOST}.",
    ]
    for n in range(count):
        lines.append(f"_imaps._tcp.d{n} SRV 0 1 993 mail.d{n}.{ZONE}.")
        lines.append(f"_submissions._tcp.d{n} SRV 0 1 465 mail.d{n}.{ZONE}.")
        lines.append(f"h{n} MX 10 mx.{MAIL_HOST}.")
    return "\n".join(lines) + "\n"


def config_text(nameserver: str, *, hosting: bool, rate: float, decisions: int) -> str:
    lines = [
        "[dns]",
        f'nameservers = ["{nameserver}"]',
        "timeout = 2.0",
        "[cache]",
        f"max_entries = {LISTED + 10}",
        "[hosting]",
        f"enabled = {'true' if hosting else 'false'}",
        f'mail_hosts = ["{MAIL_HOST}"]',
        f'provider = "{PROVIDER}"',
        f"decisions_per_second = {rate}",
        f"max_decisions = {decisions}",
        "[domains]",
        f'"{PROVIDER}" = {{}}',
    ]
    lines += [f'"d{n}.{ZONE}" = {{}}' for n in range(LISTED)]
    return "\n".join(lines) + "\n"


def lua_new(prefix: str, first: int) -> str:
    """Every request a name never asked before: ``<prefix><n>.bench.test``."""
    return (
        f"local n = {first}\n"
        "request = function()\n"
        "  n = n + 1\n"
        f'  return wrk.format("GET", "/mail/config-v1.1.xml?emailaddress=u@{prefix}" .. n '
        f'.. ".{ZONE}")\n'
        "end\n"
    )


def start_knot(work: Path, count: int) -> Knot:
    knot = Knot(work / "knot")
    (knot.zones / f"{ZONE}.zone").write_text(zone_text(count))
    knot.config.write_text(knot.config.read_text().rstrip("\n") + f"\n  - domain: {ZONE}\n")
    knot.start()
    return knot


def run(args: argparse.Namespace, work: Path) -> None:
    py = Path(sys.executable)
    knot = start_knot(work, args.domains)
    rows: dict[str, Row] = {}
    try:
        configs = {}
        for name, hosting, rate in (
            ("off", False, 20),
            ("on", True, 20),
            ("open", True, 10000),  # budget out of the way: what a worker can decide
        ):
            path = work / f"autoconf-{name}.toml"
            path.write_text(
                config_text(
                    knot.nameserver, hosting=hosting, rate=rate, decisions=args.domains + 10
                )
            )
            configs[name] = {"AUTOCONF_CONFIG": str(path), "AUTOCONF_LOGGING__LEVEL": "warning"}
        listed = TB.format(domain=f"d0.{ZONE}")
        hosted = TB.format(domain=f"h0.{ZONE}")
        stride = args.domains // (args.rounds + 1)
        with contextlib.ExitStack() as stack:
            off = stack.enter_context(gunicorn_server(py, "wsgi:app", configs["off"]))
            on = stack.enter_context(gunicorn_server(py, "wsgi:app", configs["on"]))
            cold = stack.enter_context(gunicorn_server(py, "wsgi:app", configs["open"]))
            flood = stack.enter_context(gunicorn_server(py, "wsgi:app", configs["on"]))
            for number in range(args.rounds):
                cases = (
                    ("listed, warm, hosting off", off, lua_get(listed), True),
                    ("listed, warm, hosting on", on, lua_get(listed), True),
                    ("hosted by MX, warm", on, lua_get(hosted), True),
                    (
                        "hosted by MX, cold decisions",
                        cold,
                        lua_new("h", 1 + number * stride),
                        False,
                    ),
                )
                for name, url, script, warm_up in cases:
                    if warm_up:
                        wrk(url, script, 1, args.connections)
                    row = wrk(url, script, args.duration, args.connections)
                    keep(rows, name, row, number)
                before = knot.queries()
                started = time.monotonic()
                row = wrk(flood, lua_new(f"s{number}x", 0), args.duration, args.connections)
                # Requests still queued when wrk stops are decided after it: let them land,
                # and count their time too.
                time.sleep(1)
                asked = knot.queries() - before
                elapsed = time.monotonic() - started
                # Per worker: the burst (one second's worth) plus the rate over the run.
                bound = WORKERS * QUESTIONS * (RATE + RATE * elapsed)
                row.note = (
                    f"Knot saw {asked} queries in {elapsed:.1f} s = {asked / elapsed:.0f}/s; "
                    f"bound {bound:.0f} = {WORKERS} workers x 17 x (20 + 20/s x {elapsed:.1f} s)"
                )
                keep(rows, "strangers' flood, budget 20/s", row, number)
        inproc_rows = {
            "listed, warm, hosting on": inproc(py, "wsgi:app", listed, configs["on"]),
            "hosted by MX, warm": inproc(py, "wsgi:app", hosted, configs["on"]),
            "hosted by MX, cold decisions": inproc(
                py,
                "wsgi:app",
                TB.format(domain="h{n}." + ZONE),
                configs["open"],
                "--cold",
                str(args.domains // 2),
                "--count",
                "300",
            ),
        }
        for name, micros in inproc_rows.items():
            rows[name].inproc_us = micros
    finally:
        knot.stop()
    rss = (
        {kind: measure_rss(py, work, kind, args.rss_domains) for kind in ("listed", "hosted")}
        if args.rss_domains
        else {}
    )
    report(rows, rss, args)


def keep(rows: dict[str, Row], name: str, row: Row, number: int) -> None:
    print(f"  round {number + 1} {name}: {row.rps:.0f} req/s", file=sys.stderr)
    kept = rows.get(name)
    if kept is None or row.rps > kept.rps:
        row.name = name
        rows[name] = row


def measure_rss(py: Path, work: Path, kind: str, count: int) -> dict[str, float]:
    result = subprocess.run(
        [str(py), str(Path(__file__)), "rss", kind, "--count", str(count), "--work", str(work)],
        capture_output=True,
        text=True,
        check=True,
    )
    data: dict[str, float] = json.loads(result.stdout)
    return data


def report(
    rows: dict[str, Row], rss: dict[str, dict[str, float]], args: argparse.Namespace
) -> None:
    print(
        f"\nwrk -t1 -c{args.connections} -d{args.duration}s -H 'Connection: close', best of "
        f"{args.rounds} rounds; gunicorn {' '.join(GUNICORN)}; {os.cpu_count()} CPUs; "
        f"{args.domains} hosted + {args.domains} listed-style zone domains\n"
    )
    header = (
        f"{'case':34} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8} "
        f"{'in-proc p50 us':>15}"
    )
    print(header)
    print("-" * len(header))
    for r in rows.values():
        inproc_text = f"{r.inproc_us:15.0f}" if r.inproc_us else f"{'':15}"
        print(
            f"{r.name:34} {r.rps:8.0f} {r.p50_ms:7.2f} {r.p99_ms:7.2f} {r.errors:8d} "
            f"{inproc_text}" + (f"  ({r.note})" if r.note else "")
        )
    print(
        f"\nsteady-state flood bound: {WORKERS} workers x {RATE} decisions/s x {QUESTIONS} "
        f"questions = {WORKERS * RATE * QUESTIONS} queries/s (plus one burst of {RATE} per worker)"
    )
    for kind, data in rss.items():
        print(
            f"worker RSS, {kind}: {data['rss_before_mb']:.1f} MB -> {data['rss_after_mb']:.1f} MB "
            f"after {data['domains']:.0f} domains (growth {data['growth_mb']:.1f} MB, "
            f"{data['bytes_per_domain']:.0f} B/domain, filled in {data['fill_seconds']:.1f} s)"
        )


# --- RSS, in a fresh interpreter -------------------------------------------------------


class ZoneMirror:
    """Answers what the generated zone holds, in process (no 1.7 million Knot queries)."""

    def ask(self, questions: Sequence[tuple[str, str]]) -> dict[tuple[str, str], object]:
        return {q: self._answer(*q) for q in questions}

    @staticmethod
    def _answer(name: str, rdtype: str) -> object:
        from autoconf.model import RRset
        from autoconf.model import SrvRecord
        from autoconf.model import Status

        ports = {"_imaps": 993, "_submissions": 465}
        label, _, rest = name.partition("._tcp.")
        owner = rest.rstrip(".")
        if rdtype == "SRV" and label in ports:
            if owner == PROVIDER:
                target = f"{'imap' if label == '_imaps' else 'smtp'}.{MAIL_HOST}"
            elif owner.startswith("d"):
                target = f"mail.{owner}"
            else:
                target = ""
            if target:
                record = SrvRecord(priority=0, weight=1, port=ports[label], target=target)
                return RRset(
                    name=name, rdtype=rdtype, status=Status.ANSWER, ttl=3600, srv=(record,)
                )
        if rdtype == "MX" and name.startswith("h"):
            return RRset(
                name=name,
                rdtype=rdtype,
                status=Status.ANSWER,
                ttl=3600,
                rdata=(f"10 mx.{MAIL_HOST}.",),
            )
        return RRset(name=name, rdtype=rdtype, status=Status.NXDOMAIN, ttl=300)


def rss_main(kind: str, count: int, work: Path) -> None:
    from autoconf import create_app

    sys.path.insert(0, str(BENCH))
    from rss import rss_mb

    if kind == "hosted":
        text = config_text("127.0.0.1", hosting=True, rate=10_000, decisions=count + 10)
        prefix = "h"
    else:
        text = "\n".join(
            ["[cache]", f"max_entries = {count + 10}", "[domains]"]
            + [f'"d{n}.{ZONE}" = {{}}' for n in range(count)]
        )
        prefix = "d"
    config = work / f"rss-{kind}.toml"
    config.write_text(text + "\n")
    app = create_app(config, source=ZoneMirror())  # type: ignore[arg-type]
    client = app.test_client()
    path = "/mail/config-v1.1.xml?emailaddress=u@" + prefix + "{n}." + ZONE
    assert client.get(path.format(n=0)).status_code == 200
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    for n in range(count):
        response = client.get(path.format(n=n))
        assert response.status_code == 200, response.status_code
    seconds = time.perf_counter() - started
    gc.collect()
    after = rss_mb()
    print(
        json.dumps(
            {
                "domains": count,
                "rss_before_mb": before,
                "rss_after_mb": after,
                "growth_mb": after - before,
                "bytes_per_domain": (after - before) * 1024 * 1024 / count,
                "fill_seconds": seconds,
            }
        )
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "rss":
        parser = argparse.ArgumentParser()
        parser.add_argument("command")
        parser.add_argument("kind", choices=("listed", "hosted"))
        parser.add_argument("--count", type=int, default=100_000)
        parser.add_argument("--work", type=Path, required=True)
        args = parser.parse_args()
        rss_main(args.kind, args.count, args.work)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="best of N interleaved rounds")
    parser.add_argument("--domains", type=int, default=100_000, help="hosted domains in the zone")
    parser.add_argument("--rss-domains", type=int, default=100_000, help="0: skip")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="autoconf-bench-hosting-") as work:
        run(args, Path(work))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Load-and-soak test: sustained wrk load of good and bad requests against gunicorn as
deployed (the packaged gunicorn settings), answering from a real Knot DNS.

    python bench/soak.py --duration 180

Passes (exit 0) when wrk saw no 5xx and no connection errors (connect, read, write,
timeout) and no worker's RSS grew by more than --rss-slack MiB between the end of the
warm-up and the end of the soak. Worker recycling (max_requests) is switched off so a
leak cannot hide behind restarts; --recycle keeps the deployed value instead (then only
statuses and connection errors are judged: restarted workers have new PIDs).
Needs wrk (Debian package ``wrk``) and knotd (``knot``). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import config  # noqa: E402
from tests.knot import Knot  # noqa: E402
from tests.servers import deployed_gunicorn  # noqa: E402

LUA = Path(__file__).with_name("soak.lua")


def workers_of(master: int) -> list[int]:
    """The worker PIDs of a gunicorn master (its child processes)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def rss_kib(pid: int) -> int:
    """VmRSS of a process in KiB (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1])


def wrk(url: str, seconds: int, connections: int, threads: int) -> dict[str, object]:
    """Run wrk with the soak script; return its SOAK summary."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA),
        url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("SOAK ")]
    if result.returncode or not lines:
        raise RuntimeError(f"wrk failed:\n{result.stdout}\n{result.stderr}")
    line = lines[0]
    summary: dict[str, object] = json.loads(line.removeprefix("SOAK "))
    return summary


def sample_rss(master: int, every: float, stop: threading.Event, out: list[dict[int, int]]) -> None:
    while not stop.wait(every):
        out.append({pid: rss_kib(pid) for pid in workers_of(master)})


def soak(args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        (workdir / "knot").mkdir()
        knot = Knot(workdir / "knot")
        knot.start()
        try:
            return _run(args, knot, workdir)
        finally:
            knot.stop()


def _run(args: argparse.Namespace, knot: Knot, workdir: Path) -> bool:
    mapping = config(nameservers=[knot.nameserver], timeout=2.0)
    env = {"AUTOCONF_WORKERS": str(args.workers), "AUTOCONF_THREADS": str(args.threads)}
    if not args.recycle:
        env["GUNICORN_CMD_ARGS"] = "--max-requests 0"
    with deployed_gunicorn(mapping, workdir, env=env) as server:
        master = server.process.pid
        warm = wrk(server.url, args.warmup, args.connections, args.wrk_threads)
        before = {pid: rss_kib(pid) for pid in workers_of(master)}
        samples: list[dict[int, int]] = []
        stop = threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(master, args.sample, stop, samples))
        sampler.start()
        started = time.monotonic()
        result = wrk(server.url, args.duration, args.connections, args.wrk_threads)
        stop.set()
        sampler.join()
        after = {pid: rss_kib(pid) for pid in workers_of(master)}
        log_lines = len(server.log.splitlines())
    return report(args, warm, result, before, samples, after, time.monotonic() - started, log_lines)


def report(
    args: argparse.Namespace,
    warm: dict[str, object],
    result: dict[str, object],
    before: dict[int, int],
    samples: list[dict[int, int]],
    after: dict[int, int],
    elapsed: float,
    log_lines: int,
) -> bool:
    statuses: dict[str, int] = result["statuses"]  # type: ignore[assignment]
    errors: dict[str, int] = result["errors"]  # type: ignore[assignment]
    server_errors = sum(n for status, n in statuses.items() if status.startswith("5"))
    growth = {pid: (after.get(pid, 0) - rss) / 1024 for pid, rss in before.items()}
    print(f"warm-up ({args.warmup} s): {warm['requests']} requests, statuses {warm['statuses']}")
    requests = int(result["requests"])  # type: ignore[call-overload]
    print(
        f"soak ({elapsed:.0f} s, {args.connections} connections, {args.workers} workers x "
        f"{args.threads} threads): {requests} requests, {requests / elapsed:.0f} req/s"
    )
    print(f"  statuses: {dict(sorted(statuses.items()))}")
    print(f"  connection errors: {errors}")
    print(f"  latency: {result['latency_us']} (microseconds)")
    print(f"  gunicorn log lines: {log_lines}")
    for pid in sorted(before):
        trace = " ".join(f"{s.get(pid, 0) / 1024:.1f}" for s in samples)
        print(
            f"  worker {pid}: RSS {before[pid] / 1024:.1f} -> {after.get(pid, 0) / 1024:.1f} MiB"
            f" (samples every {args.sample:.0f} s: {trace})"
        )
    failures = []
    if server_errors:
        failures.append(f"{server_errors} responses were 5xx")
    if any(errors.values()):
        failures.append(f"connection errors {errors}")
    if set(after) != set(before) and not args.recycle:
        failures.append("workers were replaced during the soak")
    if not args.recycle and any(g > args.rss_slack for g in growth.values()):
        failures.append(f"RSS grew by more than {args.rss_slack} MiB: {growth}")
    print("PASS" if not failures else "FAIL: " + "; ".join(failures))
    return not failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=180, help="soak seconds (180)")
    parser.add_argument("--warmup", type=int, default=15, help="warm-up seconds (15)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (4)")
    parser.add_argument("--sample", type=float, default=15, help="RSS sample period (15 s)")
    parser.add_argument("--rss-slack", type=float, default=8, help="allowed growth (8 MiB)")
    parser.add_argument("--recycle", action="store_true", help="keep max_requests as deployed")
    sys.exit(0 if soak(parser.parse_args()) else 1)


if __name__ == "__main__":
    main()

"""In-process cost of one request: Werkzeug's test client, no sockets.

Run by ``bench/run.py`` in a fresh interpreter per case (autoconf's venv, or automx2's),
so it imports nothing from autoconf. Prints one JSON object: per-request microseconds.

    python bench/inproc.py MODULE:ATTR PATH [--method POST --body FILE] [--count N]
        [--cold START] [--seed FILE] [--warm-up N]

``PATH`` may contain ``{n}``: with ``--cold START`` every request fills in a new number
(a domain never asked before), which measures a cold answer including its DNS lookup.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("app")
    parser.add_argument("path")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", type=Path)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--cold", type=int, default=-1)
    parser.add_argument("--seed", type=Path, help="automx2: JSON to POST to /initdb/ first")
    parser.add_argument("--warm-up", type=int, default=500, help="requests before measuring")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    module, _, attr = args.app.partition(":")
    app = getattr(importlib.import_module(module), attr)

    from werkzeug.test import Client

    client = Client(app)
    if args.seed:
        client.post("/initdb/", data=args.seed.read_bytes(), content_type="application/json")
    body = args.body.read_bytes() if args.body else None
    headers = {"Content-Type": "text/xml"} if body else {}

    def one(n: int) -> float:
        path = args.path.format(n=n)
        started = time.perf_counter()
        response = client.open(path, method=args.method, data=body, headers=headers)
        response.close()
        elapsed = time.perf_counter() - started
        if response.status_code >= 400:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
        return elapsed

    cold = args.cold >= 0
    start = args.cold if cold else 0
    for n in range(start, start + (20 if cold else args.warm_up)):  # imports, pools
        one(n)
    start += 20 if cold else 0
    timings = sorted(one(start + i if cold else 0) for i in range(args.count))
    print(
        json.dumps(
            {
                "mean_us": statistics.fmean(timings) * 1e6,
                "p50_us": timings[len(timings) // 2] * 1e6,
                "p99_us": timings[int(len(timings) * 0.99)] * 1e6,
                "count": len(timings),
            }
        )
    )


if __name__ == "__main__":
    main()

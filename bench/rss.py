"""Worker memory after caching many distinct domains (run by ``bench/run.py``).

Builds the app from the benchmark configuration, answers one request, notes the RSS,
then requests the Thunderbird document of COUNT distinct served domains and notes the RSS
again. Prints one JSON object.

A hundred thousand lookups over the wire would ask Knot 1.4 million questions, so the
records come from ``ZoneMirror``: it answers exactly what the generated zone holds (same
RRsets, same TTLs), and the providers are derived, cached and rendered by the same code as
in a worker.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autoconf import create_app
from autoconf.model import Question
from autoconf.model import RRset
from autoconf.model import SrvRecord
from autoconf.model import Status

ZONE = "bench.test"
RECORDS = {"_imaps": 993, "_submissions": 465}
TTL = 3600
NEGATIVE_TTL = 300


class ZoneMirror:
    """Answers the questions for ``d<N>.bench.test`` as the generated zone does."""

    def ask(self, questions: Sequence[Question]) -> dict[Question, RRset]:
        return {q: self._answer(*q) for q in questions}

    @staticmethod
    def _answer(name: str, rdtype: str) -> RRset:
        label, _, rest = name.partition("._tcp.")
        domain = rest.rstrip(".")
        if rdtype == "SRV" and label in RECORDS:
            record = SrvRecord(priority=0, weight=1, port=RECORDS[label], target=f"mail.{domain}")
            return RRset(name=name, rdtype=rdtype, status=Status.ANSWER, ttl=TTL, srv=(record,))
        return RRset(name=name, rdtype=rdtype, status=Status.NXDOMAIN, ttl=NEGATIVE_TTL)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    app = create_app(args.config, source=ZoneMirror())
    client = app.test_client()
    path = "/mail/config-v1.1.xml?emailaddress=u@d{n}." + ZONE
    assert client.get(path.format(n=0)).status_code == 200
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    for n in range(args.count):
        response = client.get(path.format(n=n))
        assert response.status_code == 200, response.status_code
    seconds = time.perf_counter() - started
    gc.collect()
    after = rss_mb()
    cache = app.extensions["autoconf"].discoverer.cache
    print(
        json.dumps(
            {
                "domains": args.count,
                "cached": len(cache) if cache is not None else 0,
                "rss_before_mb": before,
                "rss_after_mb": after,
                "growth_mb": after - before,
                "bytes_per_domain": (after - before) * 1024 * 1024 / args.count,
                "fill_seconds": seconds,
            }
        )
    )


if __name__ == "__main__":
    main()

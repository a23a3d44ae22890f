"""Edit the session Knot's copy of the test zone for one test, and put it back after."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import dns.message
import dns.query

from tests.knot import Knot

SHORT = "short.example.test"
_SHORT_IMAPS = "_imaps._tcp.short       2 SRV 0 1 "


@contextmanager
def short_imaps_port(knot: Knot, port: int) -> Iterator[None]:
    """Within the block Knot serves short.example.test's IMAPS record on ``port``.

    The SOA serial goes up on every change (Knot ignores a reload that does not raise it),
    and the block starts only once Knot answers with the edited record.
    """
    zone = knot.zones / "example.test.zone"
    original = zone.read_text()
    serial = int(time.time())
    _load(knot, original.replace(_SHORT_IMAPS + "993", f"{_SHORT_IMAPS}{port}"), serial, port)
    try:
        yield
    finally:
        _load(knot, original, serial + 1, 993)


def _load(knot: Knot, text: str, serial: int, port: int) -> None:
    text = re.sub(r"(hostmaster\.example\.test\. )\d+", rf"\g<1>{serial}", text, count=1)
    (knot.zones / "example.test.zone").write_text(text)
    knot.reload()
    deadline = time.monotonic() + 5
    while _imaps_port(knot) != port:
        assert time.monotonic() < deadline, "Knot did not load the edited zone"
        time.sleep(0.05)


def _imaps_port(knot: Knot) -> int:
    query = dns.message.make_query(f"_imaps._tcp.{SHORT}.", "SRV")
    reply = dns.query.udp(query, knot.address, port=knot.port, timeout=1)
    return int(reply.answer[0][0].port) if reply.answer else 0

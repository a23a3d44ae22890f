"""Per request: metrics (format and status only) and one structured log line.

Both read what the view described (:mod:`.asked`). The log line has the client format,
the domain, the outcome, the status, the latency and the cache's answer; the address only
when ``logging.addresses`` is set; never the query string, the body or credentials
(docs/security-model.md, "What is logged, and what never is").
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Response
from flask import request

from autoconf.web import asked
from autoconf.web.state import state

log = logging.getLogger("autoconf.request")
#: The ``format`` of a request no route matched.
UNROUTED = "unrouted"


def finish(response: Response) -> Response:
    """Count and log the request that ``response`` answers (an ``after_request`` hook)."""
    notes = asked.end()
    if notes is None:
        return response
    seconds = time.perf_counter() - notes.started
    current = state()
    described = notes.asked
    # A request refused before its view described it (Host, body cap, a malformed
    # address) counts under its route's format.
    fmt = described.format if described else request.blueprint or UNROUTED
    current.metrics.observe_request(fmt, str(response.status_code), seconds)
    if log.isEnabledFor(logging.INFO):
        entry: dict[str, Any] = {
            "format": fmt,
            "method": request.method,
            "status": response.status_code,
            "latency_ms": round(seconds * 1000, 3),
            "domain": described.domain if described else "",
            "outcome": notes.outcome,
            "cache": notes.cache,
        }
        if current.settings.logging.addresses and described and described.address:
            entry["address"] = str(described.address)
        # The record is made here rather than by log.info(), which would also walk the
        # stack to find its caller: a known place, paid on every request.
        record = log.makeRecord(
            log.name, logging.INFO, __file__, 0, "request", (), None, extra=entry
        )
        log.handle(record)
    return response

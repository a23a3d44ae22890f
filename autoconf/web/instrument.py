"""Per request: metrics (format and status only) and one structured log line.

The log line has the client format, the domain, the outcome, the status, the latency and
the cache state; the address only when ``logging.addresses`` is set; never the query
string, the body or credentials (docs/security-model.md, "What is logged, and what never is").
"""

from __future__ import annotations

import logging
import time

from flask import Flask
from flask import Response
from flask import g
from flask import request

from autoconf import requestlog
from autoconf.web.common import state

log = logging.getLogger("autoconf.request")


def _start() -> None:
    g.autoconf_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = g.pop("autoconf_started", None)
    if started is None:
        return response
    seconds = time.perf_counter() - started
    current = state()
    fmt = request.blueprint or "unrouted"
    current.metrics.observe_request(fmt, str(response.status_code), seconds)
    if log.isEnabledFor(logging.INFO):
        entry = requestlog.fields(addresses=current.settings.logging.addresses)
        log.info(
            "request",
            extra={
                "format": fmt,
                "method": request.method,
                "status": response.status_code,
                "latency_ms": round(seconds * 1000, 3),
                **entry,
            },
        )
    return response


def init_app(app: Flask) -> None:
    """Time, count and log every request."""
    app.before_request(_start)
    app.after_request(_finish)

"""Per-request metrics: format (blueprint) and outcome (HTTP status), nothing else."""

from __future__ import annotations

import time

from flask import Flask
from flask import Response
from flask import g
from flask import request

from autoconf.web.common import state


def _start() -> None:
    g.autoconf_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = g.pop("autoconf_started", None)
    if started is not None:
        state().metrics.observe_request(
            request.blueprint or "unrouted",
            str(response.status_code),
            time.perf_counter() - started,
        )
    return response


def init_app(app: Flask) -> None:
    """Time every request and count it by client format and status."""
    app.before_request(_start)
    app.after_request(_finish)

"""Liveness, readiness and metrics endpoints for orchestrators and Prometheus."""

from __future__ import annotations

import json

from flask import Blueprint
from flask import Response
from flask import current_app

from autoconf.readiness import Readiness
from autoconf.web import responses
from autoconf.web.state import state

bp = Blueprint("health", __name__)

#: Where each app keeps its :class:`Readiness` (its lookups and their threads).
READINESS = "autoconf.readiness"


def _json(data: dict[str, object], status: int = 200) -> Response:
    return responses.json(json.dumps(data).encode(), responses.NO_STORE, status=status)


@bp.get("/healthz")
def healthz() -> Response:
    """Alive: the process answers HTTP. Nothing else is checked (restarts fix nothing
    else)."""
    return _json({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready unless DNS fails for every sampled domain with nothing cached to fall back on,
    decided within a fixed budget (:mod:`autoconf.readiness`).

    The configuration was validated at start-up, so a running app has one. A DNS outage
    while stale settings exist is not a reason to leave the load balancer (RFC 8767).
    """
    verdict = _readiness().verdict()
    return _json(verdict.as_json(), 200 if verdict.ready else 503)


def _readiness() -> Readiness:
    found = current_app.extensions.get(READINESS)
    if found is None:
        # setdefault: two first probes at once keep one instance (it starts no thread yet).
        found = current_app.extensions.setdefault(READINESS, Readiness(state().discoverer))
    assert isinstance(found, Readiness)
    return found


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition."""
    body = state().metrics.exposition()
    response = Response(body, content_type="text/plain; version=0.0.4; charset=utf-8")
    return responses.apply(response, responses.NO_STORE)

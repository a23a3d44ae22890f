"""Liveness, readiness and metrics endpoints for orchestrators and Prometheus."""

from __future__ import annotations

import json

from flask import Blueprint
from flask import Response

from autoconf.errors import AutoconfError
from autoconf.errors import DnsUnavailableError
from autoconf.web.common import state

bp = Blueprint("health", __name__)

#: Readiness looks at this many served domains at most, so a probe stays cheap.
READY_SAMPLE = 20


def _json(data: dict[str, object], status: int = 200) -> Response:
    response = Response(json.dumps(data), status=status, content_type="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/healthz")
def healthz() -> Response:
    """Alive: the process answers HTTP. Nothing else is checked (restarts fix nothing
    else)."""
    return _json({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready unless DNS fails for every sampled domain with nothing cached to fall back on.

    The configuration was validated at start-up, so a running app has one. A DNS outage
    while stale settings exist is not a reason to leave the load balancer (RFC 8767).
    """
    discoverer = state().discoverer
    domains = list(discoverer.settings.domains)[:READY_SAMPLE]
    failures = 0
    for domain in domains:
        try:
            discoverer.provider(domain)
        except DnsUnavailableError:
            failures += 1
        except AutoconfError:
            pass  # no usable records is the domain's problem, not this instance's
    ready = failures < len(domains)
    return _json(
        {
            "status": "ready" if ready else "dns-unavailable",
            "domains_checked": len(domains),
            "dns_failures": failures,
        },
        200 if ready else 503,
    )


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text exposition."""
    body = state().metrics.exposition()
    response = Response(body, content_type="text/plain; version=0.0.4; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response

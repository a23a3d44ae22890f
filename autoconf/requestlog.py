"""What one request did, noted while it runs, for its log line and nothing else.

The notes are taken where the facts are known (the discoverer sees the domain, the cache
its outcome, the error handler the error) and kept on ``flask.g``; outside a request they
are dropped, so the CLI can share the same discoverer.
"""

from __future__ import annotations

from typing import Any

from flask import g
from flask import has_request_context


def note_domain(domain: str) -> None:
    """The domain a request asked about (A-label; served or not)."""
    if has_request_context():
        g.autoconf_domain = domain


def note_address(address: str) -> None:
    """The full address; logged only when ``logging.addresses`` is set."""
    if has_request_context():
        g.autoconf_address = address


def note_cache(event: str) -> None:
    """The settings cache's answer: hit, miss, stale or failure (the last one wins)."""
    if has_request_context():
        g.autoconf_cache = event


def note_outcome(outcome: str) -> None:
    """Why a request did not succeed (the error's class name)."""
    if has_request_context():
        g.autoconf_outcome = outcome


def fields(*, addresses: bool) -> dict[str, Any]:
    """The notes of the current request, with defaults for what was never noted."""
    entry: dict[str, Any] = {
        "domain": g.get("autoconf_domain", ""),
        "outcome": g.get("autoconf_outcome", "ok"),
        "cache": g.get("autoconf_cache", "none"),
    }
    if addresses and "autoconf_address" in g:
        entry["address"] = g.autoconf_address
    return entry

"""What one request asked, described once, for its log line and its metrics.

Each view describes its request in one value, :class:`Asked` (the client format, the
address when one was given, the mail domain asked about, served or not), as soon as it has
parsed its input and before any work that may fail; the hooks of :mod:`.instrument` read
it. Two more facts are noted where they become known: the settings cache's answer (hit,
miss, stale, failure: by the cache's observer) and the outcome (the error's class: by the
error answer). All of it lives in one :class:`Notes` per request, in a context variable
like Flask's own request context (one lookup, where ``flask.g`` costs a proxy and a
request-context check per access); outside a request nothing is noted, so the CLI can
share the same discoverer.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass

from autoconf.address import Address


@dataclass(frozen=True, slots=True, kw_only=True)
class Asked:
    """What one request asked, as its view understood it."""

    #: A :class:`~autoconf.formats.ClientFormat`, or ``"diag"`` for the diagnostics page.
    format: str
    #: The mail domain asked about (A-label), served or not; "" when none could be read.
    domain: str = ""
    #: The address, when the request named one; logged only with ``logging.addresses``.
    address: Address | None = None


@dataclass(slots=True)
class Notes:
    """One request's facts for its log line and metrics."""

    started: float
    asked: Asked | None = None
    #: The settings cache's answer: hit, miss, stale or failure (the last one wins).
    cache: str = "none"
    #: "ok", or why the request did not succeed (the error's class name).
    outcome: str = "ok"


_notes: ContextVar[Notes | None] = ContextVar("autoconf_notes", default=None)


def begin() -> None:
    """Start the notes of the current request (its first hook)."""
    _notes.set(Notes(started=time.perf_counter()))


def end() -> Notes | None:
    """The current request's notes, taken: later notes (outside a request) go nowhere."""
    notes = _notes.get()
    _notes.set(None)
    return notes


def current() -> Notes | None:
    """The current request's notes; None outside a request."""
    return _notes.get()


def describe(asked: Asked) -> Asked:
    """Record what the current request asked (once per request, by its view)."""
    notes = current()
    if notes is not None:
        notes.asked = asked
    return asked


def note_cache(event: str) -> None:
    """The settings cache's answer for the current request, if any."""
    notes = current()
    if notes is not None:
        notes.cache = event


def note_outcome(outcome: str) -> None:
    """Why the current request did not succeed."""
    notes = current()
    if notes is not None:
        notes.outcome = outcome

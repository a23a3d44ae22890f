"""Small test helpers for the cache: a hand-driven clock and a counting record source.

Neither fakes DNS: the clock only replaces ``time.monotonic`` and the counting source
passes every question to a real source (Knot or a zone file) and counts the lookups.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from autoconf.model import Question
from autoconf.model import RecordSource
from autoconf.model import RRset


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingSource:
    """Wraps a real record source and counts lookups (one ``ask`` per derivation)."""

    def __init__(self, inner: RecordSource) -> None:
        self.inner = inner
        self.asks = 0
        self._lock = threading.Lock()

    def ask(self, questions: Sequence[Question]) -> dict[Question, RRset]:
        with self._lock:
            self.asks += 1
        return self.inner.ask(questions)

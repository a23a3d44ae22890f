"""The one libFuzzer entry point behind every fuzz target in this folder."""

from __future__ import annotations

import sys


def fuzz(check: str) -> None:
    """Instrument autoconf and its parsers, then hand ``fuzz.harness.<check>`` to libFuzzer.

    Only the harness is imported under instrumentation (it imports the parsers), so
    coverage feedback comes from the code under test, not from this runner.
    """
    import atheris

    with atheris.instrument_imports():
        from fuzz import harness
    atheris.Setup(sys.argv, getattr(harness, check))
    atheris.Fuzz()

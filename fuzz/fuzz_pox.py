#!/usr/bin/env python3
"""atheris fuzz target: the POX Autodiscover request parser (``parse_request``).

Run (bounded; new inputs are added to the corpus directory, crashes saved as crash-*):

    python fuzz/fuzz_pox.py -max_total_time=60 -dict=fuzz/pox.dict fuzz/corpus/pox

Needs the ``fuzz`` extra (``pip install -e '.[fuzz]'``). Every input goes through
:func:`fuzz.harness.check_pox`, which the test suite also runs over the committed corpus.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fuzz.entry import fuzz

    fuzz("check_pox")

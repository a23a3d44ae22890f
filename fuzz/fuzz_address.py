#!/usr/bin/env python3
"""atheris fuzz target: the address and domain parsers (``parse_address``, ``parse_domain``).

Run (bounded; new inputs are added to the corpus directory, crashes saved as crash-*):

    python fuzz/fuzz_address.py -max_total_time=60 fuzz/corpus/address

Needs the ``fuzz`` extra (``pip install -e '.[fuzz]'``). Every input goes through
:func:`fuzz.harness.check_address`, which the test suite also runs over the committed corpus.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fuzz.entry import fuzz

    fuzz("check_address")

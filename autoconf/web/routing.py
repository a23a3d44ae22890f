"""Case-insensitive URL segments: IIS routes Autodiscover paths in any case, clients rely
on it (``/Autodiscover/Autodiscover.xml``, ``/AutoDiscover/AutoDiscover.xml``: clients.md
section 6.2), so ``<ci("autodiscover.xml"):_file>`` matches that word in any letter case.
"""

from __future__ import annotations

import re

from werkzeug.routing import BaseConverter
from werkzeug.routing import Map

#: The converter name used in rules: ``<ci("word"):name>``.
NAME = "ci"


class CaseInsensitive(BaseConverter):
    """One fixed path segment, matched ignoring case; the view receives it as sent."""

    def __init__(self, url_map: Map, word: str) -> None:
        super().__init__(url_map)
        # ASCII only: str.lower() would also fold "K" (Kelvin sign) and friends.
        self.regex = f"(?ai:{re.escape(word)})"
        self.word = word

    def to_url(self, value: str) -> str:
        return self.word

"""Case-insensitive URL segments: IIS routes Autodiscover paths in any case, clients rely
on it (Outlook posts ``/Autodiscover/Autodiscover.xml``, rseichter/automx2#8; iOS too,
mail-in-a-box/mailinabox#452), so ``<ci("autodiscover.xml"):_file>`` matches any letter case.
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


#: The converter name for a last segment holding any text: ``<rest:address>``.
REST = "rest"


class Rest(BaseConverter):
    """Everything to the end of the path, newlines and slashes included.

    Werkzeug's ``path`` converter stops at a newline and refuses a leading slash, so such
    an address in the v2 path form would miss the route and get Werkzeug's HTML 404
    instead of the client's JSON error; matched here, the address parser refuses it (400).
    """

    regex = "(?s:.+)"
    part_isolating = False

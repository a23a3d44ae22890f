"""MkDocs hook: the configuration reference, generated from the code's own definitions.

Placeholder with the final contract: ``on_page_markdown`` replaces the line
``<!-- autoconf:config-reference -->`` in ``configuration.md`` with the generated reference.
The generator itself lands with the single definition of the configuration keys; until
then the page is left as written.
"""

from __future__ import annotations

from typing import Any

MARKER = "<!-- autoconf:config-reference -->"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return markdown

"""MkDocs hook: the configuration reference, generated from the code, where a page asks for it.

A page holding the line ``<!-- autoconf:config-reference -->`` gets, in its place, every key
of the configuration file and every environment variable of the service with the default,
bounds and meaning the code itself defines (:mod:`autoconf.config_reference`), so the
published defaults cannot drift from the code. Enable it in ``mkdocs.yml`` with
``hooks: [docs/hooks/config_reference.py]``; it needs the ``autoconf`` package importable.
"""

from __future__ import annotations

from typing import Any

from autoconf.config_reference import expand


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs' ``on_page_markdown`` event: the page's Markdown with the marker replaced."""
    return expand(markdown)

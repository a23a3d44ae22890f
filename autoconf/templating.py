"""The Jinja environment shared by every XML/HTML renderer (Flask or not).

Autoescaping is on for every template, so a value can only ever be text inside the
document, never markup (docs/security-model.md, Threat model).
"""

from __future__ import annotations

from pathlib import Path

import jinja2

_PACKAGE = Path(__file__).parent


def templates_dir() -> Path:
    """``templates/`` inside the installed wheel, else the checkout's top-level folder."""
    for candidate in (_PACKAGE / "templates", _PACKAGE.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise RuntimeError("templates/ not found next to the autoconf package")


def make_environment(path: Path | None = None) -> jinja2.Environment:
    """A strict, autoescaping environment over ``templates/``."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(path or templates_dir()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )

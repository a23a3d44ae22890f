"""The Jinja environment shared by every XML/HTML renderer (Flask or not).

Autoescaping is on for every template, so a value can only ever be text inside the
document, never markup (docs/security-model.md, Threat model: "Correct documents").

The templates live in the top-level ``templates/`` folder of the checkout; the package
reaches them under one path, :data:`TEMPLATES`, in a checkout and in an installed wheel
alike: in the checkout ``autoconf/templates`` is a symbolic link to ``../templates``, and
the wheel build (hatchling follows the link) stores the files themselves there.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

#: Where the templates are, in a checkout (a link) and in the wheel (a folder).
TEMPLATES = Path(__file__).parent / "templates"


def make_environment(path: Path | None = None) -> jinja2.Environment:
    """A strict, autoescaping environment over ``templates/``."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(path or TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )

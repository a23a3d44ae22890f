"""The configuration reference in Markdown, generated from the code's own definitions.

Every key of the TOML file comes from :data:`autoconf.config_keys.SECTIONS` and every
environment variable of the service from :data:`autoconf.server.KNOBS`, so the defaults and
bounds shown are the ones the code applies. ``python -m autoconf.config_reference`` prints it;
the documentation site puts it where a page has the line ``<!-- autoconf:config-reference -->``
(the MkDocs hook ``docs/hooks/config_reference.py`` calls :func:`expand`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from collections.abc import Mapping

from autoconf.config import ENV_CONFIG
from autoconf.config import ENV_PREFIX
from autoconf.config_keys import SECTIONS
from autoconf.config_kinds import Key
from autoconf.config_kinds import Section
from autoconf.server import KNOBS
from autoconf.server import Knob

#: The line a documentation page holds where the reference goes.
MARKER = "<!-- autoconf:config-reference -->"

_FILE_INTRO = f"""\
The service reads one TOML file: the one given by `mail-autoconf --config`, else the one
named by `${ENV_CONFIG}`, else the embedded example (it answers for `example.com` from a
bundled zone file). Every key is optional except at least one `[domains."..."]` table;
relative paths are relative to the file's folder. Any key can be set from the environment
as `{ENV_PREFIX}<SECTION>__<KEY>`, its value parsed as TOML (plain text otherwise), e.g.
`{ENV_PREFIX}DNS__TIMEOUT=3`. An unknown key or a bad value stops start-up with a message
naming the key."""

_ENVIRONMENT_INTRO = """\
The service runs as `gunicorn -c python:autoconf.gunicorn_conf autoconf.wsgi:app`, which is
what `mail-autoconf serve` runs (its `--bind`, `--workers` and `--threads` set the first
three variables). Everything else about gunicorn is fixed in `autoconf/gunicorn_conf.py`;
these variables are what a deployment may set."""


def markdown() -> str:
    """The whole reference: the configuration file, then the environment of the service."""
    return "\n".join(_lines()) + "\n"


def expand(page: str) -> str:
    """``page`` with each line that is exactly :data:`MARKER` replaced by the reference."""
    if MARKER not in page:
        return page
    reference = markdown().rstrip("\n")
    lines = page.split("\n")
    return "\n".join(reference if line.strip() == MARKER else line for line in lines)


def toml_value(value: object) -> str:
    """``value`` written as a TOML value (as the example file writes it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string (same escapes).
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        pairs = ", ".join(f"{name} = {toml_value(item)}" for name, item in value.items())
        return "{ " + pairs + " }"
    raise TypeError(f"no TOML form for {value!r}")


def key_path(section: Section, key: Key[object]) -> str:
    """The key as error messages and the reference name it: ``dns.timeout``."""
    table = 'domains."<domain>"' if section.per_domain else section.name
    return f"{table}.{key.name}"


def env_name(section: Section, key: Key[object]) -> str:
    """The environment variable that overrides ``key`` (``AUTOCONF_DNS__TIMEOUT``)."""
    table = f"{section.name.upper()}__<domain>" if section.per_domain else section.name.upper()
    return f"{ENV_PREFIX}{table}__{key.name.upper()}"


def _lines() -> Iterator[str]:
    yield "## Configuration file"
    yield ""
    yield _FILE_INTRO
    for section in SECTIONS:
        table = 'domains."<domain>"' if section.per_domain else section.name
        yield ""
        yield f"### `[{table}]`"
        yield ""
        yield section.doc
        for key in section.keys:
            yield from _key(section, key)
    yield ""
    yield "## Environment of the service"
    yield ""
    yield _ENVIRONMENT_INTRO
    for knob in KNOBS:
        yield from _knob(knob)


def _key(section: Section, key: Key[object]) -> Iterator[str]:
    yield ""
    yield f"#### `{key_path(section, key)}`"
    yield ""
    yield f"- Default: `{toml_value(key.default)}`"
    if key.example is not None:
        yield f"- Example: `{toml_value(key.example)}`"
    yield f"- Allowed: {_plain(key.kind.describe())}"
    yield f"- Environment: `{env_name(section, key)}`"
    yield ""
    yield key.doc


def _knob(knob: Knob) -> Iterator[str]:
    yield ""
    yield f"### `{knob.name}`"
    yield ""
    if not knob.default:
        yield "- Default: unset"
    elif " " in knob.default:  # a rule, not a value
        yield f"- Default: {_plain(knob.default)}"
    else:
        yield f"- Default: `{knob.default}`"
    if knob.low is not None and knob.high is not None:
        yield f"- Allowed: {_plain(f'an integer in [{knob.low}, {knob.high}]')}"
    yield ""
    yield knob.doc


def _plain(text: str) -> str:
    """``text`` shown literally in Markdown (the kinds describe values in the words of the
    error messages, which are not Markdown): no emphasis, no HTML, no attribute list."""
    for char in "\\`*_{}":
        text = text.replace(char, "\\" + char)
    return text.replace("<", "&lt;").replace(">", "&gt;")


if __name__ == "__main__":
    print(markdown(), end="")

"""The generated configuration reference: every key and environment variable with the
default and bounds the code defines, printed by ``python -m autoconf.config_reference`` and
put into the documentation by the MkDocs hook."""

from __future__ import annotations

import html
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from autoconf.config_keys import SECTIONS
from autoconf.config_kinds import Key
from autoconf.config_kinds import Section
from autoconf.config_reference import MARKER
from autoconf.config_reference import env_name
from autoconf.config_reference import expand
from autoconf.config_reference import key_path
from autoconf.config_reference import markdown
from autoconf.config_reference import toml_value
from autoconf.server import KNOBS

ROOT = Path(__file__).parents[1]
EVERY_KEY = [(s, k) for s in SECTIONS for k in s.keys]


def key_id(item: tuple[Section, Key[Any]]) -> str:
    return f"{item[0].name}.{item[1].name}"


def block(text: str, heading: str) -> str:
    """The lines under ``heading`` up to the next heading."""
    lines = text.split("\n")
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("#")), len(lines))
    return "\n".join(lines[start:end])


@pytest.mark.parametrize("item", EVERY_KEY, ids=key_id)
def test_every_key_appears_with_its_default_and_bounds(item: tuple[Section, Key[Any]]) -> None:
    section, key = item
    text = block(markdown(), f"#### `{key_path(section, key)}`")
    assert f"- Default: `{toml_value(key.default)}`" in text
    # The allowed values in the words of the error message (Markdown escapes taken out).
    assert f"- Allowed: {key.kind.describe()}" in text.replace("\\", "")
    assert f"- Environment: `{env_name(section, key)}`" in text
    if key.example is None:
        assert "- Example:" not in text
    else:
        assert f"- Example: `{toml_value(key.example)}`" in text
    assert key.doc in text


def test_bounds_are_the_checked_ones() -> None:
    """Spot checks against the numbers the validation applies (and names in its errors)."""
    text = markdown()
    assert "an integer in [0, 300]" in block(text, "#### `cache.failure_ttl`")
    assert "a number of seconds in (0, 30]" in block(text, "#### `dns.timeout`")
    assert "a number in [0, 0.5]" in block(text, "#### `cache.refresh_ahead`")
    assert "`AUTOCONF_DOMAINS__<domain>__ALIAS_LOGIN`" in block(
        text, '#### `domains."<domain>".alias_login`'
    )


@pytest.mark.parametrize("knob", KNOBS, ids=lambda k: k.name)
def test_every_environment_variable_appears(knob: Any) -> None:
    text = markdown()
    assert text.index("## Environment of the service") < text.index(f"### `{knob.name}`")
    part = block(text, f"### `{knob.name}`")
    assert (knob.default or "unset") in part
    if knob.high is not None:
        assert f"an integer in [{knob.low}, {knob.high}]" in part
    assert knob.doc in part


@pytest.mark.parametrize("item", EVERY_KEY, ids=key_id)
def test_toml_values_round_trip(item: tuple[Section, Key[Any]]) -> None:
    """Defaults and examples are shown as TOML that reads back as the same value."""
    _, key = item
    for value in (key.default, key.example):
        if value is not None:
            assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


def test_toml_value_escapes_strings() -> None:
    value = 'a "quoted" \\ back\tslash é'
    assert tomllib.loads(f"v = {toml_value(value)}")["v"] == value


PAGE = "# Configuration\n\nIntro.\n\n  <!-- autoconf:config-reference -->\n\nAfter.\n"


def test_expand_replaces_the_marker_line() -> None:
    expanded = expand(PAGE)
    assert MARKER not in expanded
    assert expanded.startswith("# Configuration\n\nIntro.\n\n## Configuration file\n")
    assert expanded.endswith("\n\nAfter.\n")
    assert markdown().rstrip("\n") in expanded


def test_expand_leaves_other_pages_alone() -> None:
    page = "# Other\n\nThe marker is `<!-- autoconf:config-reference -->` in a sentence.\n"
    assert expand(page) == page


def load_hook() -> ModuleType:
    path = ROOT / "docs" / "hooks" / "config_reference.py"
    spec = importlib.util.spec_from_file_location("config_reference_hook", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mkdocs_hook_replaces_the_marker() -> None:
    """The hook, called as MkDocs calls ``on_page_markdown`` (page, config and files by
    keyword), fills the marker on the shipped configuration page."""
    hook = load_hook()
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert MARKER in page.split("\n")
    result = hook.on_page_markdown(page, page=None, config={}, files=None)
    assert MARKER not in result
    for section, key in EVERY_KEY:
        assert f"#### `{key_path(section, key)}`" in result
    assert hook.on_page_markdown(PAGE.replace(MARKER, ""), page=None, config={}, files=None) == (
        PAGE.replace(MARKER, "")
    )


def test_python_m_prints_the_reference() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "autoconf.config_reference"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == markdown()
    assert result.stderr == ""


def test_rendered_html_shows_every_default() -> None:
    """Rendered as MkDocs renders it (Python-Markdown with attribute lists and a table of
    contents), every heading and default comes out as written: no text taken for HTML,
    emphasis or attributes."""
    md = pytest.importorskip("markdown", reason="Python-Markdown (the docs extra) not installed")
    rendered = md.markdown(markdown(), extensions=["attr_list", "toc"])
    text = html.unescape(re.sub(r"<[^>]+>", "", rendered))
    for section, key in EVERY_KEY:
        assert f"Default: {toml_value(key.default)}" in text
        assert f"Allowed: {key.kind.describe()}" in text
        assert key_path(section, key) in text
    for knob in KNOBS:
        assert html.escape(knob.name) in rendered
    assert "<em>" not in rendered and "<strong>" not in rendered

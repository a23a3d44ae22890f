"""deploy/autoconf.example.toml, the file admins copy, matches the key definitions: every
section and key is there with the defined default (or the defined example), nothing else."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from autoconf.config_keys import DNS
from autoconf.config_keys import DOMAIN
from autoconf.config_keys import SECTIONS
from autoconf.config_kinds import Key
from autoconf.config_kinds import Section

EXAMPLE = Path(__file__).parents[1] / "deploy" / "autoconf.example.toml"
TEXT = EXAMPLE.read_text(encoding="utf-8")
DATA = tomllib.loads(TEXT)
TABLES = [s for s in SECTIONS if not s.per_domain]


def commented(section: str, key: str) -> list[Any]:
    """Values of ``# key = <TOML>`` comment lines in ``[section]``, the file's way to show
    an example next to the default."""
    values = []
    current = ""
    for line in TEXT.split("\n"):
        header = re.match(r"^\[([^\]]+)\]", line)
        if header:
            current = header.group(1)
        found = re.match(rf"^#\s+{key} = (.+)$", line)
        if found and current == section:
            values.append(tomllib.loads(f"v = {found.group(1)}")["v"])
    return values


def test_every_section_is_shown() -> None:
    assert list(DATA) == [section.name for section in SECTIONS]


@pytest.mark.parametrize("section", TABLES, ids=lambda s: s.name)
def test_section_shows_every_key_and_no_other(section: Section) -> None:
    assert list(DATA[section.name]) == list(section.names)


def check(section: Section, table: dict[str, Any], key: Key[Any], where: str) -> None:
    """The file's value is the default, or the example the definition names; an example
    the file does not set is shown in a comment of the section."""
    value = table[key.name]
    if key.example is None:
        assert value == key.default, f"{where}.{key.name}: {value!r} is not the default"
        assert type(value) is type(key.default), f"{where}.{key.name}: written as another type"
    elif value != key.example:
        assert value == key.default, f"{where}.{key.name}: neither default nor example"
        assert key.example in commented(where, key.name), f"{where}.{key.name}: no example"


@pytest.mark.parametrize(
    ("section", "key"),
    [(s, k) for s in TABLES for k in s.keys],
    ids=lambda item: getattr(item, "name", ""),
)
def test_value_is_the_defined_default(section: Section, key: Key[Any]) -> None:
    check(section, DATA[section.name], key, section.name)


def test_domain_tables_show_every_key() -> None:
    """Each example domain shows every per-domain key, with its default or example."""
    domains = DATA["domains"]
    assert domains
    for name, table in domains.items():
        assert list(table) == list(DOMAIN.names), name
        for key in DOMAIN.keys:
            check(DOMAIN, table, key, f'domains."{name}"')


def test_zone_files_example_is_the_defined_one() -> None:
    """zone_files stays empty in the file (it would need the files), the commented line
    shows the defined example: a plain path and a { file, origin } table."""
    key = DNS["zone_files"]
    assert DATA["dns"]["zone_files"] == key.default == []
    assert commented("dns", "zone_files") == [key.example]
    assert any(isinstance(entry, dict) and "origin" in entry for entry in key.example)

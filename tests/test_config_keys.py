"""The one definition of every configuration key and environment variable: the settings,
CachePolicy, the core's own defaults and the environment overrides all follow it."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from autoconf.cache import CachePolicy
from autoconf.config import apply_env
from autoconf.config import settings_from_mapping
from autoconf.config_keys import CACHE
from autoconf.config_keys import DOMAIN
from autoconf.config_keys import HOSTING
from autoconf.config_keys import SECTIONS
from autoconf.config_kinds import Key
from autoconf.config_kinds import Section
from autoconf.discovery import DomainProfile
from autoconf.errors import ConfigError
from autoconf.hosting import HostingPolicy
from autoconf.server import KNOBS
from autoconf.server import Knob
from autoconf.server import default_workers
from tests.servers import gunicorn_settings

PACKAGE = Path(__file__).parents[1] / "autoconf"
MINIMAL = {"domains": {"example.org": {}}}
TABLES = [s for s in SECTIONS if not s.per_domain]
EVERY_KEY = [(s, k) for s in SECTIONS for k in s.keys]


def key_id(item: tuple[Section, Key[Any]]) -> str:
    return f"{item[0].name}.{item[1].name}"


@pytest.mark.parametrize("item", EVERY_KEY, ids=key_id)
def test_default_and_example_are_allowed(item: tuple[Section, Key[Any]], tmp_path: Path) -> None:
    """A definition cannot carry a default (or an example) its own kind refuses."""
    _, key = item
    key.kind.parse(key.default, key.name, tmp_path)
    if key.example is not None:
        assert key.example != key.default
        key.kind.parse(key.example, key.name, tmp_path)


def test_settings_defaults_are_the_definitions() -> None:
    """With no section given, every setting holds its key's default as defined."""
    settings = settings_from_mapping(MINIMAL)
    # Keys whose setting is not an attribute of the same name.
    elsewhere = {
        "dns.trusted_target_suffixes": settings.dns.trust.trusted_suffixes,
        "dns.dnssec": settings.dns.trust.accept_dnssec,
    }
    # The hosting rule's own keys only exist in a rule (checked below, with hosting on).
    rule = ("mail_hosts", "provider", "display_name", "username", "authentication")
    for section in TABLES:
        group = getattr(settings, section.name)
        for key in section.keys:
            name = f"{section.name}.{key.name}"
            if name in elsewhere:
                assert elsewhere[name] == key.value, name
            elif name.startswith("mobileconfig.sign_"):
                # No certificate by default: no signer.
                assert key.value is None and settings.mobileconfig.signer is None, name
            elif section is not HOSTING or key.name not in (*rule, "activesync_url"):
                assert getattr(group, key.name) == key.value, name
    assert not settings.hosting.enabled


def test_cache_policy_is_the_cache_section() -> None:
    """CachePolicy's fields are exactly the [cache] keys, with their defaults."""
    assert tuple(f.name for f in fields(CachePolicy)) == CACHE.names
    assert CachePolicy() == CachePolicy(**{key.name: key.value for key in CACHE.keys})
    assert settings_from_mapping(MINIMAL).cache == CachePolicy()


def test_core_defaults_agree_with_the_definitions() -> None:
    """The core keeps its own model defaults (it does not read configuration); a domain
    configured with no keys, and a hosting rule given only what it requires, get exactly
    those defaults."""
    settings = settings_from_mapping(MINIMAL)
    assert settings.domains["example.org"] == DomainProfile(display_name="example.org")
    hosting = {"enabled": True, "mail_hosts": ["mail.example.org"], "provider": "example.org"}
    policy = settings_from_mapping({**MINIMAL, "hosting": hosting}).hosting.policy
    assert policy is not None
    for name in ("display_name", "username", "authentication", "activesync_url"):
        core = next(f.default for f in fields(HostingPolicy) if f.name == name)
        assert getattr(policy, name) == core == HOSTING[name].value, name
    assert DomainProfile(display_name="x").alias_login == DOMAIN["alias_login"].value


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: s.name)
def test_unknown_key_lists_the_defined_ones(section: Section) -> None:
    """A typo stops start-up, and the message lists the section's keys as defined."""
    allowed = ", ".join(sorted(section.names))
    if section.per_domain:
        data: dict[str, Any] = {"domains": {"example.org": {"colour": "red"}}}
        where = "domains.'example.org'"
    else:
        data = {**MINIMAL, section.name: {"colour": "red"}}
        where = section.name
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(data)
    assert caught.value.detail == f"{where}.colour: unknown key (allowed: {allowed})"


@pytest.mark.parametrize("item", EVERY_KEY, ids=key_id)
def test_every_key_is_reached_from_the_environment(item: tuple[Section, Key[Any]]) -> None:
    """AUTOCONF_<SECTION>__<KEY> reaches the key's own check: a value no kind accepts (an
    inline table) is refused naming the key."""
    section, key = item
    if section.per_domain:
        name = f"AUTOCONF_DOMAINS__example.org__{key.name.upper()}"
        where = f"domains.'example.org'.{key.name}"
    else:
        name = f"AUTOCONF_{section.name.upper()}__{key.name.upper()}"
        where = f"{section.name}.{key.name}"
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(apply_env(dict(MINIMAL), {name: "{ x = 1 }"}))
    assert caught.value.detail.startswith(f"{where}: "), caught.value.detail


#: Markdown that would not show as written: HTML, emphasis, links, attribute lists, tables.
_UNSAFE = re.compile(r"[<>{}\[\]*_|\\]")


def _docs() -> list[tuple[str, str]]:
    docs = [(s.name, s.doc) for s in SECTIONS]
    docs += [(f"{s.name}.{k.name}", k.doc) for s, k in EVERY_KEY]
    docs += [(k.name, k.doc) for k in KNOBS]
    return docs


@pytest.mark.parametrize(("name", "doc"), _docs(), ids=[name for name, _ in _docs()])
def test_docs_keep_names_and_values_in_code_spans(name: str, doc: str) -> None:
    """The texts are Markdown: every name or value with a character Markdown would
    interpret stands in a code span, and each is one paragraph ending in a full stop."""
    prose = re.sub(r"`[^`\n]+`", "", doc)
    assert "`" not in prose, f"{name}: unbalanced code span"
    assert not _UNSAFE.search(prose), f"{name}: {_UNSAFE.findall(prose)} outside code spans"
    assert "\n" not in doc and doc.endswith("."), name


def test_knob_defaults_lie_within_their_bounds() -> None:
    for knob in KNOBS:
        if knob.low is not None and knob.high is not None and knob.default.isdigit():
            assert knob.low <= int(knob.default) <= knob.high, knob.name
    workers = next(k for k in KNOBS if k.name == "AUTOCONF_WORKERS")
    assert workers.low is not None and workers.high is not None
    assert workers.low <= default_workers() <= workers.high


@pytest.fixture
def no_knobs(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for knob in KNOBS:
        monkeypatch.delenv(knob.name, raising=False)
    return monkeypatch


def _knob(name: str) -> Knob:
    return next(k for k in KNOBS if k.name == name)


def test_gunicorn_settings_apply_the_knob_defaults(no_knobs: pytest.MonkeyPatch) -> None:
    """With no variable set, the shipped gunicorn settings use the defaults the reference
    shows."""
    conf = gunicorn_settings()
    assert conf["bind"] == [_knob("AUTOCONF_BIND").default]
    assert conf["workers"] == default_workers()
    assert conf["threads"] == int(_knob("AUTOCONF_THREADS").default)
    assert conf["client_read_timeout"] == int(_knob("AUTOCONF_CLIENT_TIMEOUT").default)
    assert conf["loglevel"] == _knob("AUTOCONF_LOG_LEVEL").default
    assert conf["forwarded_allow_ips"] == _knob("FORWARDED_ALLOW_IPS").default


@pytest.mark.parametrize("name", [k.name for k in KNOBS if k.high is not None])
def test_gunicorn_settings_apply_the_knob_bounds(no_knobs: pytest.MonkeyPatch, name: str) -> None:
    """An integer knob past its defined bound stops the settings from loading."""
    knob = _knob(name)
    assert knob.high is not None
    no_knobs.setenv(name, str(knob.high + 1))
    with pytest.raises(ValueError, match=name):
        gunicorn_settings()
    no_knobs.setenv(name, str(knob.high))
    gunicorn_settings()


def test_environment_names_are_written_once() -> None:
    """Outside their definitions (autoconf/server.py, and the config file's variable in
    autoconf/config.py), no module spells an environment variable's name as a literal."""
    names = "|".join(re.escape(k.name) for k in KNOBS)
    literal = re.compile(rf"[\"']({names}|AUTOCONF_[A-Z_]+)[\"']")
    found = {
        f"{path.relative_to(PACKAGE)}: {match.group(1)}"
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("server.py", "config.py")
        for match in literal.finditer(path.read_text(encoding="utf-8"))
    }
    assert not found

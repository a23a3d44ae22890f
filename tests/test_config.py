"""Configuration: TOML, environment overrides, and start-up errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from autoconf.config import DEFAULT_CONFIG
from autoconf.config import load_settings
from autoconf.config import settings_from_mapping
from autoconf.config_kinds import ZoneFile
from autoconf.config_kinds import parse_nameserver
from autoconf.errors import ConfigError
from autoconf.model import AliasLogin
from autoconf.model import Authentication
from autoconf.model import Username

MINIMAL = {"domains": {"example.org": {}}}


def test_defaults() -> None:
    """A single domain table is a complete configuration."""
    settings = settings_from_mapping(MINIMAL)
    profile = settings.domains["example.org"]
    assert profile.display_name == "example.org"
    assert profile.username is Username.EMAILADDRESS
    assert profile.authentication is Authentication.PASSWORD_CLEARTEXT
    assert profile.alias_login is AliasLogin.PRIMARY
    assert settings.dns.nameservers == () and settings.dns.timeout == 2.0
    assert settings.http.max_body_bytes == 16384


def test_domains_are_normalised_and_aliases_resolve() -> None:
    """Domain keys and aliases go through the same IDNA 2008 normalisation as requests."""
    settings = settings_from_mapping(
        {"domains": {"Straße.Example.": {"aliases": ["ALIAS.example"]}}}
    )
    assert list(settings.domains) == ["xn--strae-oqa.example"]
    assert settings.primary_of("alias.example") == "xn--strae-oqa.example"
    assert settings.primary_of("xn--strae-oqa.example") == "xn--strae-oqa.example"
    assert settings.primary_of("other.example") is None


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({}, "domains"),
        ({"domains": {}}, "domains"),
        ({"domain": {"a.example": {}}, **MINIMAL}, "domain"),
        ({"dns": {"timeout": 0}, **MINIMAL}, "dns.timeout"),
        ({"dns": {"timeout": "2"}, **MINIMAL}, "dns.timeout"),
        ({"dns": {"timeout": 31}, **MINIMAL}, "dns.timeout"),
        ({"dns": {"nameservers": ["not-an-ip"]}, **MINIMAL}, "dns.nameservers"),
        ({"dns": {"nameservers": ["127.0.0.1:99999"]}, **MINIMAL}, "dns.nameservers"),
        ({"dns": {"nameservers": "127.0.0.1"}, **MINIMAL}, "dns.nameservers"),
        ({"dns": {"dnssec": "yes"}, **MINIMAL}, "dns.dnssec"),
        (
            {"dns": {"trusted_target_suffixes": ["bad_suffix!"]}, **MINIMAL},
            "dns.trusted_target_suffixes",
        ),
        ({"dns": {"zone_files": ["/nonexistent.zone"]}, **MINIMAL}, "dns.zone_files"),
        ({"dns": {"typo": 1}, **MINIMAL}, "dns.typo"),
        ({"http": {"max_body_bytes": 10}, **MINIMAL}, "http.max_body_bytes"),
        ({"domains": {"example.org": {"username": "%USER%"}}}, "username"),
        ({"domains": {"example.org": {"authentication": "plain"}}}, "authentication"),
        ({"domains": {"example.org": {"alias_login": "alias"}}}, "alias_login"),
        ({"domains": {"example.org": {"activesync_url": "http://x.example/"}}}, "activesync_url"),
        (
            {"domains": {"example.org": {"activesync_url": "https://x.example/<a>"}}},
            "activesync_url",
        ),
        ({"domains": {"example.org": {"aliases": ["example.org"]}}}, "aliases"),
        ({"domains": {"a.example": {"aliases": ["b.example"]}, "b.example": {}}}, "aliases"),
        (
            {
                "domains": {
                    "a.example": {"aliases": ["c.example"]},
                    "b.example": {"aliases": ["c.example"]},
                }
            },
            "aliases",
        ),
        ({"domains": {"not a domain": {}}}, "domains"),
        # Host names end in a label that is not all digits (RFC 1123 section 2.1); such a
        # domain would load and then refuse every SRV target as not a host name.
        ({"domains": {"example.123": {}}}, "example.123"),
        ({"domains": {"example.org": {"aliases": ["example.123"]}}}, "aliases"),
        ({"http": {"trusted_hosts": ["autoconfig.example.123"]}, **MINIMAL}, "http.trusted_hosts"),
        ({"domains": {"example.org": {"colour": "red"}}}, "colour"),
        ({"domains": {"example.org": "yes"}}, "example.org"),
    ],
)
def test_errors_name_the_key(data: dict[str, Any], key: str) -> None:
    """Each invalid value stops start-up with a message naming the offending key."""
    with pytest.raises(ConfigError) as info:
        from autoconf.app import create_app

        create_app(data)
    assert key in info.value.detail


def test_zone_files_relative_to_config_file(tmp_path: Path) -> None:
    """Relative zone file paths are resolved against the config file's folder."""
    (tmp_path / "conf").mkdir()
    config = tmp_path / "conf" / "autoconf.toml"
    config.write_text('[dns]\nzone_files = ["z/example.org.zone"]\n[domains."example.org"]\n')
    settings = load_settings(config, environ={})
    assert settings.dns.zone_files == (ZoneFile(tmp_path / "conf" / "z" / "example.org.zone"),)


def test_environment_overrides(tmp_path: Path) -> None:
    """AUTOCONF_SECTION__KEY values are parsed as TOML (else taken as text)."""
    config = tmp_path / "autoconf.toml"
    config.write_text('[dns]\ntimeout = 2.0\n[domains."example.org"]\n')
    settings = load_settings(
        config,
        environ={
            "AUTOCONF_DNS__TIMEOUT": "3.5",
            "AUTOCONF_DNS__NAMESERVERS": '["127.0.0.1:5353", "[::1]"]',
            "AUTOCONF_DOMAINS__example.org__DISPLAY_NAME": "Example Org Mail",
            "AUTOCONF_UNRELATED": "ignored",
        },
    )
    assert settings.dns.timeout == 3.5
    assert settings.dns.nameservers == (("127.0.0.1", 5353), ("::1", 53))
    assert settings.domains["example.org"].display_name == "Example Org Mail"


def test_environment_names_the_config_file(tmp_path: Path) -> None:
    """$AUTOCONF_CONFIG picks the file; an unreadable one is a ConfigError."""
    config = tmp_path / "autoconf.toml"
    config.write_text('[domains."example.org"]\n')
    assert list(load_settings(environ={"AUTOCONF_CONFIG": str(config)}).domains) == ["example.org"]
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(environ={"AUTOCONF_CONFIG": str(tmp_path / "missing.toml")})


def test_broken_toml_is_reported(tmp_path: Path) -> None:
    """A syntax error names the file."""
    config = tmp_path / "autoconf.toml"
    config.write_text("[dns\n")
    with pytest.raises(ConfigError, match=r"autoconf\.toml"):
        load_settings(config, environ={})


def test_embedded_default_is_used_without_config() -> None:
    """No file and no $AUTOCONF_CONFIG: the bundled example with its bundled zone."""
    settings = load_settings(environ={})
    assert settings.source == str(DEFAULT_CONFIG)
    assert list(settings.domains) == ["example.com"]
    assert all(entry.path.exists() for entry in settings.dns.zone_files)


def test_shipped_example_config_is_valid() -> None:
    """deploy/autoconf.example.toml loads as it is."""
    example = Path(__file__).parents[1] / "deploy" / "autoconf.example.toml"
    settings = load_settings(example, environ={})
    assert "example.com" in settings.domains


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", ("192.0.2.1", 53)),
        ("192.0.2.1:5353", ("192.0.2.1", 5353)),
        ("[2001:db8::1]:53", ("2001:db8::1", 53)),
        ("2001:db8::1", ("2001:db8::1", 53)),
        ("[::1]", ("::1", 53)),
    ],
)
def test_parse_nameserver(text: str, expected: tuple[str, int]) -> None:
    """IPv4 and IPv6 resolvers, with or without a port."""
    assert parse_nameserver(text) == expected

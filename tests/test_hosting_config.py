"""``[hosting]``: defaults, validation with the key named, environment overrides."""

from __future__ import annotations

from typing import Any

import pytest

from autoconf.config import load_settings
from autoconf.config import settings_from_mapping
from autoconf.errors import ConfigError
from autoconf.model import Authentication
from autoconf.model import Username

DOMAINS = {"hoster.example": {"aliases": ["hoster.net"]}}
ON = {"enabled": True, "mail_hosts": ["mail.hoster.example"], "provider": "hoster.example"}


def hosting(**keys: Any) -> dict[str, Any]:
    return {"domains": DOMAINS, "hosting": {**ON, **keys}}


def test_off_by_default() -> None:
    settings = settings_from_mapping({"domains": DOMAINS})
    assert not settings.hosting.enabled and settings.hosting.policy is None
    assert settings.hosting.decisions_per_second == 20 and settings.hosting.max_decisions == 10000


def test_enabled_policy() -> None:
    settings = settings_from_mapping(
        hosting(
            mail_hosts=["Mail.Hoster.Example."],
            provider="HOSTER.example",
            display_name="{domain} at Hoster",
            username="%EMAILLOCALPART%",
            authentication="password-encrypted",
            activesync_url="https://eas.hoster.example/{domain}/eas",
            decisions_per_second=2.5,
            max_decisions=50,
        )
    )
    policy = settings.hosting.policy
    assert policy is not None
    assert policy.mail_hosts == ("mail.hoster.example",)
    assert policy.provider == "hoster.example"
    assert policy.provider_names == ("hoster.example", "hoster.net")
    assert policy.trust.trusted_suffixes == ("mail.hoster.example",)
    profile = policy.profile("c.example")
    assert profile.display_name == "c.example at Hoster"
    assert profile.username is Username.EMAILLOCALPART
    assert profile.authentication is Authentication.PASSWORD_ENCRYPTED
    assert profile.activesync_url == "https://eas.hoster.example/c.example/eas"
    assert (settings.hosting.decisions_per_second, settings.hosting.max_decisions) == (2.5, 50)


def test_activesync_defaults_to_the_providers() -> None:
    domains = {"hoster.example": {"activesync_url": "https://eas.hoster.example/eas"}}
    settings = settings_from_mapping({"domains": domains, "hosting": ON})
    assert settings.hosting.policy is not None
    assert settings.hosting.policy.profile("c.example").activesync_url == (
        "https://eas.hoster.example/eas"
    )


def test_trust_keeps_the_dns_settings() -> None:
    settings = settings_from_mapping(
        {
            **hosting(),
            "dns": {"trusted_target_suffixes": ["other.example"], "dnssec": True},
        }
    )
    assert settings.hosting.policy is not None
    trust = settings.hosting.policy.trust
    assert trust.trusted_suffixes == ("other.example", "mail.hoster.example")
    assert trust.accept_dnssec


@pytest.mark.parametrize(
    ("keys", "named"),
    [
        ({"enabled": "yes"}, "hosting.enabled"),
        ({"mail_hosts": []}, "hosting.mail_hosts"),
        ({"mail_hosts": "mail.hoster.example"}, "hosting.mail_hosts"),
        ({"mail_hosts": ["bad_host!"]}, "hosting.mail_hosts"),
        ({"mail_hosts": ["mail.example.123"]}, "hosting.mail_hosts"),
        ({"provider": ""}, "hosting.provider"),
        ({"provider": "other.example"}, "hosting.provider"),
        ({"provider": "hoster.net"}, "hosting.provider"),  # an alias, not a primary
        ({"provider": 3}, "hosting.provider"),
        ({"username": "%USER%"}, "hosting.username"),
        ({"authentication": "oauth2"}, "hosting.authentication"),
        ({"display_name": "x\x07"}, "hosting.display_name"),
        ({"activesync_url": "http://eas.example/"}, "hosting.activesync_url"),
        ({"activesync_url": "https://{domain}<x>/"}, "hosting.activesync_url"),
        ({"decisions_per_second": 0}, "hosting.decisions_per_second"),
        ({"decisions_per_second": True}, "hosting.decisions_per_second"),
        ({"max_decisions": 0}, "hosting.max_decisions"),
        ({"budget": 3}, "hosting.budget"),
    ],
)
def test_bad_values_name_the_key(keys: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(hosting(**keys))
    assert caught.value.detail.startswith(named), caught.value.detail


def test_keys_are_checked_when_off_too() -> None:
    """A typo is loud even while hosting is off; the rule's own keys may stay empty."""
    settings_from_mapping({"domains": DOMAINS, "hosting": {"enabled": False}})
    with pytest.raises(ConfigError, match=r"hosting\.decisions_per_second"):
        settings_from_mapping(
            {"domains": DOMAINS, "hosting": {"enabled": False, "decisions_per_second": -1}}
        )


def test_environment_override(tmp_path: Any) -> None:
    path = tmp_path / "autoconf.toml"
    path.write_text('[domains."hoster.example"]\n')
    settings = load_settings(
        path,
        environ={
            "AUTOCONF_HOSTING__ENABLED": "true",
            "AUTOCONF_HOSTING__MAIL_HOSTS": '["mail.hoster.example"]',
            "AUTOCONF_HOSTING__PROVIDER": "hoster.example",
        },
    )
    assert settings.hosting.enabled


def test_hosting_answers_from_zone_files_too() -> None:
    """dns.zone_files answers MX and CNAME questions like live DNS: the same decisions
    offline (the zone files Knot serves in the other tests)."""
    from pathlib import Path

    from autoconf import create_app

    zones = Path(__file__).parent / "zones"
    app = create_app(
        {
            "dns": {
                "zone_files": [str(zones / "hoster.test.zone"), str(zones / "customers.test.zone")]
            },
            "domains": {"hoster.test": {}},
            "hosting": {
                "enabled": True,
                "mail_hosts": ["mail.hoster.test"],
                "provider": "hoster.test",
            },
        }
    )
    client = app.test_client()
    statuses = {
        label: client.get(
            f"/mail/config-v1.1.xml?emailaddress=a@{label}.customers.test"
        ).status_code
        for label in ("own-srv", "mx-only", "cname", "partly", "gone")
    }
    assert statuses == {"own-srv": 200, "mx-only": 200, "cname": 200, "partly": 404, "gone": 404}

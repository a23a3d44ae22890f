"""The [cache] configuration section: defaults, validation naming the key, env overrides."""

from __future__ import annotations

from typing import Any

import pytest

from autoconf.cache import CachePolicy
from autoconf.config import apply_env
from autoconf.config import settings_from_mapping
from autoconf.errors import ConfigError

DOMAINS = {"example.com": {}}


def test_defaults_follow_dns_md() -> None:
    """Floor 60 s, cap 1 h, negative cap 5 min, failures 5 s, stale for a day."""
    policy = settings_from_mapping({"domains": DOMAINS}).cache
    assert policy == CachePolicy()
    assert (policy.floor, policy.cap, policy.negative_cap) == (60, 3600, 300)
    assert (policy.failure_ttl, policy.stale_if_error, policy.enabled) == (5, 86400, True)


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"floor": -1}, "cache.floor"),
        ({"floor": 1.5}, "cache.floor"),
        ({"cap": 0}, "cache.cap"),
        ({"floor": 600, "cap": 60}, "cache.floor"),
        ({"failure_ttl": 301}, "cache.failure_ttl"),  # RFC 2308 section 7.1: <= 5 minutes
        ({"stale_if_error": 8 * 86400}, "cache.stale_if_error"),
        ({"max_entries": 0}, "cache.max_entries"),
        ({"max_documents": True}, "cache.max_documents"),
        ({"enabled": "yes"}, "cache.enabled"),
        ({"ttl": 60}, "cache.ttl"),
    ],
)
def test_bad_values_are_refused_naming_the_key(table: dict[str, Any], key: str) -> None:
    """Every invalid [cache] value stops start-up with the key in the message."""
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        settings_from_mapping({"cache": table, "domains": DOMAINS})


def test_environment_overrides_cache_keys() -> None:
    """AUTOCONF_CACHE__FLOOR=0 and AUTOCONF_CACHE__ENABLED=false reach the policy."""
    data = apply_env(
        {"domains": DOMAINS}, {"AUTOCONF_CACHE__FLOOR": "0", "AUTOCONF_CACHE__ENABLED": "false"}
    )
    policy = settings_from_mapping(data).cache
    assert (policy.floor, policy.enabled) == (0, False)

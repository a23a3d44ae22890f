"""Configuration: one TOML file plus ``AUTOCONF_*`` environment overrides.

Everything is validated at start-up; a bad value stops the service with a
:class:`~autoconf.errors.ConfigError` that names the key. With no file at all the bundled
example (``autoconf/data/default.toml``) is used, so a fresh install answers at once.
Every key (default, allowed values, meaning) is defined once, in :mod:`autoconf.config_keys`;
this module reads the file and builds the settings from the checked values.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
from typing import Any

from autoconf.cache import CachePolicy
from autoconf.config_keys import DOMAIN
from autoconf.config_keys import SECTIONS
from autoconf.config_kinds import ZoneFile
from autoconf.config_kinds import host_name
from autoconf.config_kinds import refuse_unknown
from autoconf.discovery import DomainProfile
from autoconf.discovery import TrustPolicy
from autoconf.errors import ConfigError
from autoconf.hosting import DOMAIN_PLACEHOLDER
from autoconf.hosting import HostingPolicy
from autoconf.signing import Signer
from autoconf.signing import load_signer

ENV_PREFIX = "AUTOCONF_"
ENV_CONFIG = "AUTOCONF_CONFIG"
DEFAULT_CONFIG = Path(__file__).parent / "data" / "default.toml"


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsSettings:
    """``[dns]``: where DNS answers come from and which SRV targets are trusted."""

    nameservers: tuple[tuple[str, int], ...]
    timeout: float
    zone_files: tuple[ZoneFile, ...]
    #: ``trusted_target_suffixes`` and ``dnssec``.
    trust: TrustPolicy


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSettings:
    """``[http]``: limits applied to HTTP requests, extra Host names answered."""

    max_body_bytes: int
    trusted_hosts: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingSettings:
    """``[logging]``: how the service (``autoconf.wsgi``, run by ``mail-autoconf serve``) logs."""

    format: str
    level: str
    addresses: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DiagnosticsSettings:
    """The admin page at ``/`` (docs/operations.md, "The diagnostics page")."""

    enabled: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class MobileconfigSettings:
    """``[mobileconfig]``: naming of Apple profiles, and the signer when one is configured."""

    organization: str
    identifier_prefix: str
    signer: Signer | None


@dataclass(frozen=True, slots=True, kw_only=True)
class HostingSettings:
    """``[hosting]``: DNS decides which unlisted domains are served (docs/hosted-domains.md).
    Off by default: then only ``[domains]`` is served and strangers cost no DNS."""

    #: The rule; None when hosting is off.
    policy: HostingPolicy | None
    decisions_per_second: float
    max_decisions: int

    @property
    def enabled(self) -> bool:
        return self.policy is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class StateSettings:
    """Where the settings snapshot lives (docs/operations.md, "Warm start")."""

    snapshot: bool
    #: Used when ``$STATE_DIRECTORY`` is not set; None: no state directory, no snapshot.
    directory: Path | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The validated configuration."""

    dns: DnsSettings
    http: HttpSettings
    #: Served primary domains (A-labels) with their profiles.
    domains: dict[str, DomainProfile]
    #: Alias domain -> primary domain.
    aliases: dict[str, str]
    diagnostics: DiagnosticsSettings
    logging: LoggingSettings
    cache: CachePolicy
    state: StateSettings
    source: str = "<mapping>"
    mobileconfig: MobileconfigSettings
    hosting: HostingSettings

    @property
    def trusted_hosts(self) -> frozenset[str]:
        """Every Host name the service answers for (lower case, no port)."""
        names = {"localhost", "127.0.0.1", "::1", *self.http.trusted_hosts}
        for domain in (*self.domains, *self.aliases):
            names.update((domain, f"autoconfig.{domain}", f"autodiscover.{domain}"))
        return frozenset(names)

    def primary_of(self, domain: str) -> str | None:
        """The primary domain ``domain`` belongs to, or None when it is not served."""
        if domain in self.domains:
            return domain
        return self.aliases.get(domain)


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the TOML file (``path``, else ``$AUTOCONF_CONFIG``, else the bundled default).

    :raises ConfigError: when the file cannot be read or a value is invalid.
    """
    env = os.environ if environ is None else environ
    chosen = Path(path) if path else Path(env[ENV_CONFIG]) if env.get(ENV_CONFIG) else None
    file = chosen or DEFAULT_CONFIG
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {file}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: {exc}") from exc
    return settings_from_mapping(apply_env(data, env), base_dir=file.parent, source=str(file))


def apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Overlay ``AUTOCONF_SECTION__KEY=value`` variables (value parsed as TOML).

    ``AUTOCONF_DNS__TIMEOUT=3.5`` sets ``dns.timeout``; ``AUTOCONF_DNS__NAMESERVERS=
    '["127.0.0.1:53"]'`` a list; a value that is not TOML is taken as a string, so
    ``AUTOCONF_DOMAINS__example.org__DISPLAY_NAME=Example`` works unquoted.
    """
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG or "__" not in name:
            continue
        path = [part for part in name[len(ENV_PREFIX) :].split("__") if part]
        if len(path) < 2:
            continue
        # Section and key names are lower case; domain names are case-insensitive anyway.
        path = [part.lower() for part in path]
        table = merged
        for part in path[:-1]:
            child = table.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            table[part] = child
            table = child
        table[path[-1]] = _env_value(raw)
    return merged


def _env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def settings_from_mapping(
    data: Mapping[str, Any], *, base_dir: Path | None = None, source: str = "<mapping>"
) -> Settings:
    """Validate a mapping shaped like the TOML file.

    Relative paths (``zone_files``, signing files, the state directory) are resolved
    against ``base_dir`` (the config file's folder).
    """
    refuse_unknown(data, tuple(section.name for section in SECTIONS), "")
    base = base_dir or Path.cwd()
    tables = {
        section.name: section.values(data.get(section.name, {}), section.name, base)
        for section in SECTIONS
        if not section.per_domain
    }
    domains, aliases = _domains(data.get("domains", {}), base)
    dns = tables["dns"]
    trust = TrustPolicy(
        trusted_suffixes=dns.pop("trusted_target_suffixes"), accept_dnssec=dns.pop("dnssec")
    )
    return Settings(
        dns=DnsSettings(**dns, trust=trust),
        http=HttpSettings(**tables["http"]),
        domains=domains,
        aliases=aliases,
        diagnostics=DiagnosticsSettings(**tables["diagnostics"]),
        cache=_cache(tables["cache"]),
        state=StateSettings(**tables["state"]),
        logging=LoggingSettings(**tables["logging"]),
        source=source,
        mobileconfig=_mobileconfig(tables["mobileconfig"]),
        hosting=_hosting(tables["hosting"], domains, trust),
    )


def _domains(table: Any, base_dir: Path) -> tuple[dict[str, DomainProfile], dict[str, str]]:
    """The served primary domains with their profiles, and alias -> primary."""
    if not isinstance(table, Mapping) or not table:
        raise ConfigError('domains: at least one [domains."example.org"] table is required')
    domains: dict[str, DomainProfile] = {}
    aliases: dict[str, str] = {}
    for raw_name, raw in table.items():
        where = f"domains.{raw_name!r}"
        name = host_name(raw_name, where)
        if name in domains:
            raise ConfigError(f"{where}: listed twice")
        keys = DOMAIN.values(raw, where, base_dir)
        if name in keys["aliases"]:
            raise ConfigError(f"{where}.aliases: a domain cannot be its own alias")
        display_name = keys.pop("display_name") or name
        domains[name] = profile = DomainProfile(display_name=display_name, **keys)
        for alias in profile.aliases:
            if alias in aliases:
                raise ConfigError(f"{where}.aliases: {alias} is an alias twice")
            aliases[alias] = name
    for alias, primary in aliases.items():
        if alias in domains:
            raise ConfigError(f"domains.{primary!r}.aliases: {alias} is also a primary domain")
    return domains, aliases


def _cache(values: dict[str, Any]) -> CachePolicy:
    policy = CachePolicy(**values)
    if policy.floor > policy.cap:
        raise ConfigError("cache.floor: must not exceed cache.cap")
    return policy


def _hosting(
    values: dict[str, Any], domains: Mapping[str, DomainProfile], trust: TrustPolicy
) -> HostingSettings:
    """``[hosting]``: its keys are checked even when it is off (see config_keys.HOSTING)."""
    settings = HostingSettings(
        policy=None,
        decisions_per_second=values["decisions_per_second"],
        max_decisions=values["max_decisions"],
    )
    if not values["enabled"]:
        return settings
    mail_hosts: tuple[str, ...] = values["mail_hosts"]
    if not mail_hosts:
        raise ConfigError("hosting.mail_hosts: name at least one suffix of your mail servers")
    provider: str = values["provider"]
    name = host_name(provider, "hosting.provider") if provider.strip() else ""
    if name not in domains:
        raise ConfigError(
            f"hosting.provider: {provider!r} must be one of [domains] (the operator's own "
            "domain, whose settings MX- and CNAME-hosted domains get)"
        )
    policy = HostingPolicy(
        mail_hosts=mail_hosts,
        provider=name,
        provider_names=(name, *domains[name].aliases),
        trust=TrustPolicy(
            trusted_suffixes=(*trust.trusted_suffixes, *mail_hosts),
            accept_dnssec=trust.accept_dnssec,
        ),
        display_name=values["display_name"] or DOMAIN_PLACEHOLDER,
        username=values["username"],
        authentication=values["authentication"],
        # Hosted domains use the operator's servers: its ActiveSync server too, unless a
        # template says otherwise.
        activesync_url=values["activesync_url"] or domains[name].activesync_url,
    )
    return replace(settings, policy=policy)


def _mobileconfig(values: dict[str, Any]) -> MobileconfigSettings:
    cert, key, chain = values["sign_cert"], values["sign_key"], values["sign_chain"]
    if bool(cert) != bool(key):
        raise ConfigError("mobileconfig.sign_cert, mobileconfig.sign_key: give both or neither")
    if chain and not cert:
        raise ConfigError("mobileconfig.sign_chain: needs sign_cert and sign_key")
    signer = load_signer(cert=cert, key=key, chain=chain) if cert and key else None
    return MobileconfigSettings(
        organization=values["organization"],
        identifier_prefix=values["identifier_prefix"],
        signer=signer,
    )

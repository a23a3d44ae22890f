"""Configuration: one TOML file plus ``AUTOCONF_*`` environment overrides.

Everything is validated at start-up; a bad value stops the service with a
:class:`~autoconf.errors.ConfigError` that names the key. With no file at all the bundled
example (``autoconf/data/default.toml``) is used, so a fresh install answers at once.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import Any
from typing import TypeVar
from urllib.parse import urlsplit

from autoconf.address import parse_domain
from autoconf.cache import CachePolicy
from autoconf.discovery import DomainProfile
from autoconf.discovery import TrustPolicy
from autoconf.errors import ConfigError
from autoconf.errors import InvalidAddressError
from autoconf.hosting import DOMAIN_PLACEHOLDER
from autoconf.hosting import HostingPolicy
from autoconf.model import AliasLogin
from autoconf.model import Authentication
from autoconf.model import Username
from autoconf.names import host_name_problem
from autoconf.signing import Signer
from autoconf.signing import load_signer

ENV_PREFIX = "AUTOCONF_"
ENV_CONFIG = "AUTOCONF_CONFIG"
DEFAULT_CONFIG = Path(__file__).parent / "data" / "default.toml"

# What each section may hold, with defaults; unknown keys are refused so a typo is loud.
_DNS_KEYS = {
    "nameservers": [],
    "timeout": 2.0,
    "zone_files": [],
    "trusted_target_suffixes": [],
    "dnssec": False,
}
_HTTP_KEYS = {"max_body_bytes": 16384, "trusted_hosts": []}
_DIAGNOSTICS_KEYS = {"enabled": True}
_LOGGING_KEYS = {"format": "json", "level": "info", "addresses": False}
_LOG_FORMATS = ("json", "text")
_LOG_LEVELS = ("debug", "info", "warning", "error")
_CACHE_KEYS = {
    "enabled": True,
    "floor": 60,
    "cap": 3600,
    "negative_cap": 300,
    "failure_ttl": 5,
    "stale_if_error": 86400,
    "max_entries": 10000,
    "max_documents": 1024,
    "refresh_ahead": 0.1,
    "refresh_rate": 20,
}
_STATE_KEYS = {"snapshot": True, "directory": ""}
_DAY = 86400
_DOMAIN_KEYS = {
    "aliases": [],
    "display_name": "",
    "username": "%EMAILADDRESS%",
    "authentication": "password-cleartext",
    "activesync_url": "",
    "alias_login": "primary",
}
_MOBILECONFIG_KEYS = {
    "sign_cert": "",
    "sign_key": "",
    "sign_chain": "",
    "organization": "",
    "identifier_prefix": "",
}
_HOSTING_KEYS = {
    "enabled": False,
    "mail_hosts": [],
    "provider": "",
    "display_name": "{domain}",
    "username": "%EMAILADDRESS%",
    "authentication": "password-cleartext",
    "activesync_url": "",
    "decisions_per_second": 20,
    "max_decisions": 10000,
}
_TOP_KEYS = {
    "dns",
    "http",
    "cache",
    "state",
    "diagnostics",
    "logging",
    "domains",
    "mobileconfig",
    "hosting",
}
#: Reverse-DNS style, like Apple's own identifiers ("com.example.mail").
_IDENTIFIER_PREFIX = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")


@dataclass(frozen=True, slots=True)
class ZoneFile:
    """One entry of ``dns.zone_files``: a zone file and, when the file does not state it,
    the zone's origin (the name a DNS server's own configuration would give it)."""

    path: Path
    #: A-label without the trailing dot; "" = taken from the file ($ORIGIN or the SOA owner).
    origin: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class DnsSettings:
    """Where DNS answers come from and which SRV targets are trusted."""

    nameservers: tuple[tuple[str, int], ...] = ()
    timeout: float = 2.0
    zone_files: tuple[ZoneFile, ...] = ()
    trust: TrustPolicy = field(default_factory=TrustPolicy)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSettings:
    """Limits applied to HTTP requests."""

    max_body_bytes: int = 16384
    #: Host names accepted besides the served domains, their autoconfig./autodiscover.
    #: names and loopback (e.g. the service's own name, a hoster's MX domain).
    trusted_hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingSettings:
    """How the service (``autoconf.wsgi``, run by ``mail-autoconf serve``) logs."""

    #: "json": one object per line (production); "text": for a developer's terminal.
    format: str = "json"
    level: str = "info"
    #: Log the full address of a request (else the domain only; docs/security-model.md, logging).
    addresses: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DiagnosticsSettings:
    """The admin page at ``/`` (docs/operations.md, "The diagnostics page")."""

    #: On by default: it shows only what public DNS and the client endpoints already tell
    #: anyone, and only for served domains.
    enabled: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class MobileconfigSettings:
    """Apple configuration profiles: naming, and the signer when one is configured."""

    #: ``PayloadOrganization``; "" means the domain's display name.
    organization: str = ""
    #: Start of every ``PayloadIdentifier``; "" means derived from the served domain.
    identifier_prefix: str = ""
    signer: Signer | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HostingSettings:
    """``[hosting]``: DNS decides which unlisted domains are served (docs/hosted-domains.md).
    Off by default: then only ``[domains]`` is served and strangers cost no DNS."""

    #: The rule; None when hosting is off.
    policy: HostingPolicy | None = None
    #: Cold decisions (lookups of a domain not seen before) per second and worker.
    decisions_per_second: float = 20.0
    #: Decisions kept per worker, least recently used evicted first.
    max_decisions: int = 10000

    @property
    def enabled(self) -> bool:
        return self.policy is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class StateSettings:
    """Where the settings snapshot lives (docs/operations.md, "Warm start")."""

    #: Write and read the snapshot when a state directory is known.
    snapshot: bool = True
    #: Used when ``$STATE_DIRECTORY`` is not set (systemd sets it for ``StateDirectory=``);
    #: None: no state directory, no snapshot.
    directory: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The validated configuration."""

    dns: DnsSettings
    http: HttpSettings
    #: Served primary domains (A-labels) with their profiles.
    domains: dict[str, DomainProfile]
    #: Alias domain -> primary domain.
    aliases: dict[str, str]
    diagnostics: DiagnosticsSettings = field(default_factory=DiagnosticsSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    cache: CachePolicy = field(default_factory=CachePolicy)
    state: StateSettings = field(default_factory=StateSettings)
    source: str = "<mapping>"
    mobileconfig: MobileconfigSettings = field(default_factory=MobileconfigSettings)
    hosting: HostingSettings = field(default_factory=HostingSettings)

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

    Relative ``zone_files`` are resolved against ``base_dir`` (the config file's folder).
    """
    _known(data, _TOP_KEYS, "")
    dns_table = _section(data, "dns", _DNS_KEYS)
    http_table = _section(data, "http", _HTTP_KEYS)
    diagnostics_table = _section(data, "diagnostics", _DIAGNOSTICS_KEYS)
    logging_table = _section(data, "logging", _LOGGING_KEYS)
    mobileconfig_table = _section(data, "mobileconfig", _MOBILECONFIG_KEYS)
    cache_table = _section(data, "cache", _CACHE_KEYS)
    hosting_table = _section(data, "hosting", _HOSTING_KEYS)
    state_table = _section(data, "state", _STATE_KEYS)
    domains_table = data.get("domains", {})
    if not isinstance(domains_table, Mapping) or not domains_table:
        raise ConfigError('domains: at least one [domains."example.org"] table is required')
    domains: dict[str, DomainProfile] = {}
    aliases: dict[str, str] = {}
    for raw_name, table in domains_table.items():
        name = _domain(raw_name, f"domains.{raw_name!r}")
        if name in domains:
            raise ConfigError(f"domains.{raw_name!r}: listed twice")
        profile = _profile(name, table, f"domains.{raw_name!r}")
        domains[name] = profile
        for alias in profile.aliases:
            if alias in aliases:
                raise ConfigError(f"domains.{raw_name!r}.aliases: {alias} is an alias twice")
            aliases[alias] = name
    for alias, primary in aliases.items():
        if alias in domains:
            raise ConfigError(f"domains.{primary!r}.aliases: {alias} is also a primary domain")
    dns = _dns(dns_table, base_dir or Path.cwd())
    return Settings(
        dns=dns,
        http=HttpSettings(
            max_body_bytes=_int(http_table, "max_body_bytes", "http", 256, 1 << 20),
            trusted_hosts=tuple(
                _domain(h, "http.trusted_hosts")
                for h in _strings(http_table, "trusted_hosts", "http")
            ),
        ),
        domains=domains,
        aliases=aliases,
        diagnostics=DiagnosticsSettings(enabled=_bool(diagnostics_table, "enabled", "diagnostics")),
        cache=_cache(cache_table),
        state=_state(state_table, base_dir or Path.cwd()),
        logging=_logging(logging_table),
        source=source,
        mobileconfig=_mobileconfig(mobileconfig_table, base_dir or Path.cwd()),
        hosting=_hosting(hosting_table, domains, dns.trust),
    )


def parse_nameserver(text: str) -> tuple[str, int]:
    """``"192.0.2.1"``, ``"192.0.2.1:5353"``, ``"[2001:db8::1]:53"`` -> (address, port).

    :raises ConfigError: when the text is not an IP address with an optional port.
    """
    host, port = text.strip(), "53"
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":") if rest else port
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(f"dns.nameservers: {text!r} is not an IP address[:port]") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"dns.nameservers: bad port in {text!r}")
    return str(address), int(port)


def _known(table: Mapping[str, Any], allowed: set[str] | Mapping[str, Any], where: str) -> None:
    for key in table:
        if key not in allowed:
            prefix = f"{where}." if where else ""
            raise ConfigError(f"{prefix}{key}: unknown key (allowed: {', '.join(sorted(allowed))})")


def _section(data: Mapping[str, Any], name: str, defaults: Mapping[str, Any]) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{name}: must be a table")
    _known(table, defaults, name)
    return {**defaults, **table}


def _dns(table: Mapping[str, Any], base_dir: Path) -> DnsSettings:
    nameservers = tuple(parse_nameserver(s) for s in _strings(table, "nameservers", "dns"))
    timeout = table["timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not (0 < timeout <= 30):
        raise ConfigError("dns.timeout: must be a number of seconds in (0, 30]")
    zone_files = _zone_files(table["zone_files"], base_dir)
    suffixes = tuple(
        _host_name(s, "dns.trusted_target_suffixes")
        for s in _strings(table, "trusted_target_suffixes", "dns")
    )
    if not isinstance(table["dnssec"], bool):
        raise ConfigError("dns.dnssec: must be true or false")
    return DnsSettings(
        nameservers=nameservers,
        timeout=float(timeout),
        zone_files=zone_files,
        trust=TrustPolicy(trusted_suffixes=suffixes, accept_dnssec=table["dnssec"]),
    )


_ZONE_FILE_KEYS = {"file", "origin"}
_ZONE_FILES_SHAPE = 'a list of file names or { file = "...", origin = "..." } tables'


def _zone_files(value: Any, base_dir: Path) -> tuple[ZoneFile, ...]:
    """``["a.zone", { file = "db.example", origin = "example.org" }, ...]``; paths relative
    to ``base_dir``. The origin is only needed for a file that does not state its own."""
    where = "dns.zone_files"
    if not isinstance(value, list):
        raise ConfigError(f"{where}: must be {_ZONE_FILES_SHAPE}")
    entries: list[ZoneFile] = []
    seen: dict[Path, str] = {}
    for raw in value:
        if isinstance(raw, str):
            name, origin = raw, ""
        elif isinstance(raw, Mapping):
            _known(raw, _ZONE_FILE_KEYS, where)
            file = raw.get("file")
            if not isinstance(file, str):
                raise ConfigError(f'{where}: every table needs file = "<path>"')
            name = file
            origin = _domain(raw["origin"], f"{where}: origin of {name}") if "origin" in raw else ""
        else:
            raise ConfigError(f"{where}: must be {_ZONE_FILES_SHAPE}")
        if not name.strip():
            raise ConfigError(f"{where}: empty file name")
        path = base_dir / name
        # Two spellings (or symlinks) of one file would load one zone twice.
        key = path.resolve()
        if key in seen:
            same = "is listed twice" if seen[key] == name else f"is the same file as {seen[key]}"
            raise ConfigError(f"{where}: {name} {same}")
        seen[key] = name
        entries.append(ZoneFile(path, origin))
    return tuple(entries)


def _cache(table: Mapping[str, Any]) -> CachePolicy:
    if not isinstance(table["enabled"], bool):
        raise ConfigError("cache.enabled: must be true or false")
    policy = CachePolicy(
        enabled=table["enabled"],
        floor=_int(table, "floor", "cache", 0, _DAY),
        cap=_int(table, "cap", "cache", 1, _DAY),
        negative_cap=_int(table, "negative_cap", "cache", 0, _DAY),
        # RFC 2308 section 7.1: a failure is remembered for 5 minutes at most.
        failure_ttl=_int(table, "failure_ttl", "cache", 0, 300),
        # RFC 8767 suggests 1 to 3 days of staleness; a week is the most we accept.
        stale_if_error=_int(table, "stale_if_error", "cache", 0, 7 * _DAY),
        max_entries=_int(table, "max_entries", "cache", 1, 10_000_000),
        max_documents=_int(table, "max_documents", "cache", 0, 1_000_000),
        refresh_ahead=_fraction(table, "refresh_ahead", "cache", 0.5),
        refresh_rate=_int(table, "refresh_rate", "cache", 1, 10_000),
    )
    if policy.floor > policy.cap:
        raise ConfigError("cache.floor: must not exceed cache.cap")
    return policy


def _hosting(
    table: Mapping[str, Any], domains: Mapping[str, DomainProfile], trust: TrustPolicy
) -> HostingSettings:
    """``[hosting]``: every key is checked even when it is off, so a typo is loud."""
    enabled = _bool(table, "enabled", "hosting")
    mail_hosts = tuple(
        _host_name(s, "hosting.mail_hosts") for s in _strings(table, "mail_hosts", "hosting")
    )
    provider = table["provider"]
    if not isinstance(provider, str):
        raise ConfigError("hosting.provider: must be a domain of [domains]")
    display_name = _label(table["display_name"], "hosting.display_name").strip()
    # The template is checked filled in, as every hosted domain will see it.
    url = table["activesync_url"]
    if url != "":
        if not isinstance(url, str):
            raise ConfigError("hosting.activesync_url: must be a string")
        _https_url(url.replace(DOMAIN_PLACEHOLDER, "example.org"), "hosting.activesync_url")
    rate = table["decisions_per_second"]
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 10_000:
        raise ConfigError("hosting.decisions_per_second: must be a number in (0, 10000]")
    settings = HostingSettings(
        decisions_per_second=float(rate),
        max_decisions=_int(table, "max_decisions", "hosting", 1, 10_000_000),
    )
    username = _choice(Username, table["username"], "hosting.username")
    authentication = _choice(Authentication, table["authentication"], "hosting.authentication")
    if not enabled:
        return settings
    if not mail_hosts:
        raise ConfigError("hosting.mail_hosts: name at least one suffix of your mail servers")
    name = _domain(provider, "hosting.provider") if provider.strip() else ""
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
        display_name=display_name or DOMAIN_PLACEHOLDER,
        username=username,
        authentication=authentication,
        # Hosted domains use the operator's servers: its ActiveSync server too, unless a
        # template says otherwise.
        activesync_url=url or domains[name].activesync_url,
    )
    return replace(settings, policy=policy)


def _fraction(table: Mapping[str, Any], key: str, where: str, high: float) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise ConfigError(f"{where}.{key}: must be a number in [0, {high:g}]")
    return float(value)


def _state(table: Mapping[str, Any], base_dir: Path) -> StateSettings:
    directory = table["directory"]
    if not isinstance(directory, str):
        raise ConfigError("state.directory: must be a directory path")
    return StateSettings(
        snapshot=_bool(table, "snapshot", "state"),
        directory=base_dir / directory if directory.strip() else None,
    )


def _mobileconfig(table: Mapping[str, Any], base_dir: Path) -> MobileconfigSettings:
    paths = {key: _path(table, key, base_dir) for key in ("sign_cert", "sign_key", "sign_chain")}
    if bool(paths["sign_cert"]) != bool(paths["sign_key"]):
        raise ConfigError("mobileconfig.sign_cert, mobileconfig.sign_key: give both or neither")
    if paths["sign_chain"] and not paths["sign_cert"]:
        raise ConfigError("mobileconfig.sign_chain: needs sign_cert and sign_key")
    signer = None
    if paths["sign_cert"] and paths["sign_key"]:
        signer = load_signer(
            cert=paths["sign_cert"], key=paths["sign_key"], chain=paths["sign_chain"]
        )
    organization = _label(table["organization"], "mobileconfig.organization")
    prefix = table["identifier_prefix"]
    if not isinstance(prefix, str) or len(prefix) > 100:
        raise ConfigError(
            "mobileconfig.identifier_prefix: must be a string of at most 100 characters"
        )
    if prefix and not _IDENTIFIER_PREFIX.fullmatch(prefix):
        raise ConfigError(
            "mobileconfig.identifier_prefix: must be reverse-DNS style, e.g. 'com.example.mail'"
        )
    return MobileconfigSettings(
        organization=organization.strip(), identifier_prefix=prefix, signer=signer
    )


def _path(table: Mapping[str, Any], key: str, base_dir: Path) -> Path | None:
    value = table[key]
    if not isinstance(value, str):
        raise ConfigError(f"mobileconfig.{key}: must be a file path")
    return base_dir / value if value.strip() else None


def _profile(name: str, raw: Any, where: str) -> DomainProfile:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a table")
    _known(raw, _DOMAIN_KEYS, where)
    table = {**_DOMAIN_KEYS, **raw}
    aliases = tuple(_domain(a, f"{where}.aliases") for a in _strings(table, "aliases", where))
    if name in aliases:
        raise ConfigError(f"{where}.aliases: a domain cannot be its own alias")
    display_name = _label(table["display_name"], f"{where}.display_name")
    return DomainProfile(
        display_name=display_name.strip() or name,
        username=_choice(Username, table["username"], f"{where}.username"),
        authentication=_choice(Authentication, table["authentication"], f"{where}.authentication"),
        aliases=aliases,
        activesync_url=_https_url(table["activesync_url"], f"{where}.activesync_url"),
        alias_login=_choice(AliasLogin, table["alias_login"], f"{where}.alias_login"),
    )


_E = TypeVar("_E", Username, Authentication, AliasLogin)


def _choice(enum: type[_E], value: Any, where: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in enum)
        raise ConfigError(f"{where}: {value!r} is not one of {allowed}") from None


def _https_url(value: Any, where: str) -> str:
    if value == "":
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: must be a string")
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or any(c in value for c in "<>\"' \n"):
        raise ConfigError(f"{where}: must be an https:// URL")
    return value


def _label(value: Any, where: str) -> str:
    """A name shown to users: at most 200 printable characters. Control characters (or
    undecodable bytes from the environment) cannot be written into XML or a property list,
    so they are refused here rather than failing every request."""
    if not isinstance(value, str) or len(value) > 200:
        raise ConfigError(f"{where}: must be a string of at most 200 characters")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in value):
        raise ConfigError(f"{where}: must not contain control characters or invalid UTF-8")
    return value


def _domain(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: must be a domain name")
    try:
        return parse_domain(value)
    except InvalidAddressError as exc:
        raise ConfigError(f"{where}: {exc.detail}") from None


def _host_name(value: Any, where: str) -> str:
    """A domain that SRV targets are compared with: an IDNA 2008 A-label name that is also
    a host name (LDH labels, not numeric at the end), as every target must be."""
    domain = _domain(value, where)
    problem = host_name_problem(domain)
    if problem:
        raise ConfigError(f"{where}: {value!r} is not a host name: {problem}")
    return domain


def _strings(table: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}.{key}: must be a list of strings")
    return value


def _logging(table: Mapping[str, Any]) -> LoggingSettings:
    for key, allowed in (("format", _LOG_FORMATS), ("level", _LOG_LEVELS)):
        if table[key] not in allowed:
            raise ConfigError(f"logging.{key}: must be one of {', '.join(allowed)}")
    return LoggingSettings(
        format=table["format"],
        level=table["level"],
        addresses=_bool(table, "addresses", "logging"),
    )


def _bool(table: Mapping[str, Any], key: str, where: str) -> bool:
    value = table[key]
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{key}: must be true or false")
    return value


def _int(table: Mapping[str, Any], key: str, where: str, low: int, high: int) -> int:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where}.{key}: must be an integer in [{low}, {high}]")
    return value

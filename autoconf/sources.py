"""Build the record source the settings describe (shared by the app and the CLI).

Zone files can be loaded once in the gunicorn master (:func:`on_starting` and
:func:`on_reload` are its hooks): every worker forked afterwards answers from the master's
copy instead of reading the files itself. So all workers agree, a file edited on disk is
picked up on SIGHUP and not earlier (a recycled worker does not read it behind the
others' back), and a file broken at SIGHUP time leaves the last good zones in service:
gunicorn stops the old workers as soon as it has forked the new ones, and a new worker
that failed to load its zones would halt the whole server.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from autoconf.config import DnsSettings
from autoconf.config import Settings
from autoconf.config import load_settings
from autoconf.config_kinds import ZoneFile
from autoconf.dns_source import LiveSource
from autoconf.dns_source import QueryObserver
from autoconf.dns_source import ZoneSource
from autoconf.errors import ConfigError
from autoconf.model import RecordSource

#: The zones :func:`preload_zones` loaded in this process (or the master it was forked
#: from), with the configured files they were loaded for.
_preloaded: tuple[tuple[ZoneFile, ...], ZoneSource] | None = None


def make_source(dns: DnsSettings, observer: QueryObserver | None = None) -> RecordSource:
    """Zone files when configured (offline), else live DNS (reporting to ``observer``).

    :raises ConfigError: a zone file cannot be read, does not parse or has no origin.
    """
    if dns.zone_files:
        if _preloaded is not None and _preloaded[0] == dns.zone_files:
            return _preloaded[1]
        return ZoneSource(dns.zone_files)
    return LiveSource(
        nameservers=dns.nameservers,
        timeout=dns.timeout,
        dnssec=dns.trust.accept_dnssec,
        observer=observer,
    )


def dnssec_warning(dns: DnsSettings, source: RecordSource) -> str:
    """Why ``dns.dnssec = true`` does not protect this setup; "" when it does (or is off).

    The AD bit is a bare header flag: only a resolver reached over a secure path can be
    trusted to have set it (RFC 4035 section 4.9.3, RFC 6840 section 5.7), and without
    TSIG or a tunnel the only such path is the loopback interface. Anyone on the path to a
    remote resolver can set AD on a forged answer and so get any target served.
    """
    if not dns.trust.accept_dnssec or not isinstance(source, LiveSource):
        return ""
    remote = [address for address, _ in source.nameservers if not _is_loopback(address)]
    if not remote:
        return ""
    where = "dns.nameservers" if dns.nameservers else "/etc/resolv.conf (dns.nameservers is empty)"
    return (
        f"dns.dnssec = true trusts the AD bit, but {where} names resolver(s) off this host "
        f"({', '.join(remote)}): anyone on the path can forge AD and get any SRV target "
        "served. Run a validating resolver on loopback and point dns.nameservers at it "
        "(RFC 6840 §5.7)."
    )


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def preload_zones(settings: Settings | None = None) -> None:
    """Load the configured zone files (``settings``, else ``$AUTOCONF_CONFIG``) for
    :func:`make_source` in this process and in the processes forked from it afterwards.

    :raises ConfigError: the settings or a zone file are broken; what was loaded before
        stays in use.
    """
    global _preloaded
    settings = settings or load_settings()
    files = settings.dns.zone_files
    _preloaded = (files, ZoneSource(files)) if files else None


def on_starting(server: Any) -> None:
    """gunicorn hook, in the master before the first worker is forked: a bad configuration
    or zone file stops the start with one log line, instead of failing every worker."""
    try:
        preload_zones()
    except ConfigError as exc:
        server.log.error("configuration error: %s", exc.detail)
        raise SystemExit(1) from None


def on_reload(server: Any) -> None:
    """gunicorn hook, in the master on SIGHUP before the new workers are forked: they
    start from the zone files as they are now, or, when one is broken, as last loaded."""
    try:
        preload_zones()
    except ConfigError as exc:
        server.log.error("configuration error: %s; zones kept as last loaded", exc.detail)


def make_address_source(dns: DnsSettings) -> RecordSource:
    """Where ``check --probe`` resolves server names: live DNS through the configured
    nameservers (the system's when none are set), also when the records come from zone
    files: the probe checks the servers clients will reach, and clients resolve live."""
    return LiveSource(nameservers=dns.nameservers, timeout=dns.timeout)

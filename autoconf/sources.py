"""Build the record source the settings describe (shared by the app and the CLI)."""

from __future__ import annotations

from autoconf.config import DnsSettings
from autoconf.dns_source import LiveSource
from autoconf.dns_source import QueryObserver
from autoconf.dns_source import ZoneSource
from autoconf.model import RecordSource


def make_source(dns: DnsSettings, observer: QueryObserver | None = None) -> RecordSource:
    """Zone files when configured (offline), else live DNS (reporting to ``observer``)."""
    if dns.zone_files:
        return ZoneSource(dns.zone_files)
    return LiveSource(
        nameservers=dns.nameservers,
        timeout=dns.timeout,
        dnssec=dns.trust.accept_dnssec,
        observer=observer,
    )


def make_address_source(dns: DnsSettings) -> RecordSource:
    """Where ``check --probe`` resolves server names: live DNS through the configured
    nameservers (the system's when none are set), also when the records come from zone
    files: the probe checks the servers clients will reach, and clients resolve live."""
    return LiveSource(nameservers=dns.nameservers, timeout=dns.timeout)

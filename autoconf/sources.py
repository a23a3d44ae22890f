"""Build the record source the settings describe (shared by the app and the CLI)."""

from __future__ import annotations

import ipaddress

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

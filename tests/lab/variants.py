"""The lab's zone variants and the servers every client must end up with for each.

Written out by hand from tests/lab/zones/lab.test.zone (not computed by the service), so a
regression that makes every format agree on a wrong answer still fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One server as a client ends up with it: ``security`` is ``tls``/``starttls``/``plain``."""

    protocol: str
    host: str
    port: int
    security: str

    def __str__(self) -> str:
        return f"{self.protocol}:{self.host}:{self.port}:{self.security}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    """A served domain of the lab zone and its expected servers, in preference order."""

    domain: str
    description: str
    incoming: tuple[Endpoint, ...] = ()
    outgoing: tuple[Endpoint, ...] = ()
    #: CalDAV/CardDAV URLs expected from the DAV records (RFC 6764).
    dav: tuple[str, ...] = ()
    #: False when the zone publishes no ``autoconfig.<d>``: clients must use Autodiscover.
    has_autoconfig: bool = True

    @property
    def address(self) -> str:
        return f"alice@{self.domain}"

    @property
    def pox(self) -> tuple[tuple[Endpoint, ...], tuple[Endpoint, ...]]:
        """What POX 2006a carries: the preferred server of each protocol, in order."""
        return first_per_protocol(self.incoming), first_per_protocol(self.outgoing)

    @property
    def served(self) -> bool:
        """False when the service must answer 404 (nothing trustworthy to offer)."""
        return bool(self.incoming and self.outgoing)


def first_per_protocol(servers: tuple[Endpoint, ...]) -> tuple[Endpoint, ...]:
    seen: dict[str, Endpoint] = {}
    for server in servers:
        seen.setdefault(server.protocol, server)
    return tuple(seen.values())


def _e(protocol: str, host: str, port: int, security: str) -> Endpoint:
    return Endpoint(protocol=protocol, host=host, port=port, security=security)


VARIANTS = (
    Variant(
        domain="lab.test",
        description="implicit TLS and STARTTLS, ordered by priority; two IMAP hosts; POP3 last",
        incoming=(
            _e("imap", "imap.lab.test", 993, "tls"),
            _e("imap", "imap2.lab.test", 993, "tls"),
            _e("imap", "imap.lab.test", 143, "starttls"),
            _e("pop3", "imap.lab.test", 995, "tls"),
        ),
        outgoing=(
            _e("smtp", "smtp.lab.test", 465, "tls"),
            _e("smtp", "smtp.lab.test", 587, "starttls"),
        ),
    ),
    Variant(
        domain="tls.lab.test",
        description="implicit TLS only",
        incoming=(_e("imap", "mail.tls.lab.test", 993, "tls"),),
        outgoing=(_e("smtp", "mail.tls.lab.test", 465, "tls"),),
    ),
    Variant(
        domain="starttls.lab.test",
        description="STARTTLS only",
        incoming=(_e("imap", "mail.starttls.lab.test", 143, "starttls"),),
        outgoing=(_e("smtp", "mail.starttls.lab.test", 587, "starttls"),),
    ),
    Variant(
        domain="nopop.lab.test",
        description='POP3, cleartext-start IMAP and port 587 refused with "."',
        incoming=(_e("imap", "mail.nopop.lab.test", 993, "tls"),),
        outgoing=(_e("smtp", "mail.nopop.lab.test", 465, "tls"),),
    ),
    Variant(
        domain="hosted.lab.test",
        description="targets outside the domain, trusted through DNSSEC (AD bit)",
        incoming=(_e("imap", "imap.provider.test", 993, "tls"),),
        outgoing=(_e("smtp", "smtp.provider.test", 465, "tls"),),
    ),
    Variant(
        domain="dav.lab.test",
        description="mail plus CalDAV and CardDAV with TXT paths",
        incoming=(_e("imap", "mail.dav.lab.test", 993, "tls"),),
        outgoing=(_e("smtp", "mail.dav.lab.test", 465, "tls"),),
        dav=(
            "https://mail.dav.lab.test/dav/calendars/",
            "https://mail.dav.lab.test/dav/contacts/",
        ),
    ),
    Variant(
        domain="adonly.lab.test",
        description="no autoconfig.<d> name: only Autodiscover answers",
        incoming=(_e("imap", "mail.adonly.lab.test", 993, "tls"),),
        outgoing=(_e("smtp", "mail.adonly.lab.test", 465, "tls"),),
        has_autoconfig=False,
    ),
    Variant(
        domain="unsigned.test",
        description="targets outside the domain without DNSSEC: refused, 404",
    ),
)

#: An alias domain of the first variant (``domains."lab.test".aliases``): an address there
#: gets lab.test's servers and, by the default ``alias_login``, logs in as lab.test.
ALIAS = "alias.lab.test"
ALIAS_ADDRESS = f"alice@{ALIAS}"
ALIAS_LOGIN = f"alice@{VARIANTS[0].domain}"

SERVED = tuple(v for v in VARIANTS if v.served)
WITH_AUTOCONFIG = tuple(v for v in SERVED if v.has_autoconfig)
BY_DOMAIN = {v.domain: v for v in VARIANTS}


def lab_config() -> dict[str, Any]:
    """The service's configuration in the lab: live DNS through the validating resolver."""
    domains: dict[str, dict[str, Any]] = {
        v.domain: {"display_name": f"Lab {v.domain}"} for v in VARIANTS
    }
    domains[VARIANTS[0].domain]["aliases"] = [ALIAS]
    return {
        "dns": {"nameservers": ["127.0.0.1"], "timeout": 2.0, "dnssec": True},
        "domains": domains,
    }

"""One assertion per zone variant: every format and every client lists the same servers.

Sources compared, all from the running lab:

- config-v1.1 over HTTPS (curl) and Thunderbird's Account Hub: every server, in order;
- Delta Chat's ``Used params``: the same list restricted to IMAP and SMTP (all it speaks);
- POX 2006a over HTTPS (curl) and Thunderbird's Exchange lookup: the preferred server of
  each protocol, protocols in the same order;
- the Apple profile (one account: the preferred IMAP and submission server; ``UseSSL``
  cannot say which kind of TLS);
- msmtp, reading SRV itself: the preferred submission server;
- CalDAV/CardDAV URLs in config-v1.1, POX and the profile, and the RFC 6764 redirects.
"""

from __future__ import annotations

import plistlib
from dataclasses import dataclass
from typing import Any

import pytest

from tests.lab.lab import Lab
from tests.lab.variants import ALIAS
from tests.lab.variants import ALIAS_ADDRESS
from tests.lab.variants import ALIAS_LOGIN
from tests.lab.variants import SERVED
from tests.lab.variants import VARIANTS
from tests.lab.variants import Endpoint
from tests.lab.variants import Variant
from tests.lab.variants import first_per_protocol
from tests.lab.views import Servers
from tests.lab.views import apple_security
from tests.lab.views import dav_from_config_xml
from tests.lab.views import from_config_xml
from tests.lab.views import from_deltachat
from tests.lab.views import from_msmtp
from tests.lab.views import from_pox
from tests.lab.views import from_profile
from tests.lab.views import from_thunderbird
from tests.lab.views import pox_request

pytestmark = pytest.mark.lab


def _preferred(servers: Servers) -> Servers:
    incoming, outgoing = servers
    return first_per_protocol(incoming), first_per_protocol(outgoing)


def _imap_smtp(servers: Servers) -> Servers:
    incoming, outgoing = servers
    return tuple(e for e in incoming if e.protocol == "imap"), outgoing


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpViews:
    """What the service's formats say for one address, fetched over HTTPS."""

    xml: Servers
    xml_dav: tuple[str, ...]
    pox: Servers
    pox_dav: tuple[str, ...]
    profile: tuple[Endpoint, Endpoint]
    profile_dav: tuple[str, ...]
    well_known: tuple[str, ...]


def _http_views(lab: Lab, variant: Variant) -> HttpViews:
    domain = variant.domain
    host = f"autoconfig.{domain}" if variant.has_autoconfig else f"autodiscover.{domain}"
    query = f"emailaddress=alice%40{domain}"
    xml = lab.curl(f"https://{host}/mail/config-v1.1.xml?{query}")
    profile = lab.curl(f"https://{host}/email.mobileconfig?{query}")
    pox = lab.curl(
        f"https://autodiscover.{domain}/autodiscover/autodiscover.xml",
        "-H",
        "Content-Type: text/xml; charset=utf-8",
        "--data-binary",
        pox_request(variant.address),
    )
    assert (xml.status, pox.status, profile.status) == (200, 200, 200)
    pox_servers, pox_dav = from_pox(pox.body)
    profile_servers, profile_dav = from_profile(profile.body)
    return HttpViews(
        xml=from_config_xml(xml.body),
        xml_dav=dav_from_config_xml(xml.body),
        pox=pox_servers,
        pox_dav=pox_dav,
        profile=profile_servers,
        profile_dav=profile_dav,
        well_known=tuple(_redirect(lab, host, s) for s in ("caldav", "carddav")),
    )


def _redirect(lab: Lab, host: str, service: str) -> str:
    """Where ``/.well-known/<service>`` sends a DAV client ("" for 404)."""
    response = lab.curl(f"https://{host}/.well-known/{service}")
    assert response.status in (307, 404)
    return response.headers.get("location", "")


@pytest.mark.parametrize("variant", SERVED, ids=[v.domain for v in SERVED])
def test_every_format_and_client_lists_the_same_servers(
    lab: Lab, thunderbird: dict[str, Any], deltachat: dict[str, Any], variant: Variant
) -> None:
    """DNS-based (msmtp) and HTTP-based discovery (two formats, two real clients) give
    the variant's servers, in the same order."""
    http = _http_views(lab, variant)
    xml = http.xml
    assert xml == (variant.incoming, variant.outgoing)
    found = thunderbird["lookups"][variant.address]
    every_server = {"config-v1.1": xml}
    if variant.has_autoconfig:
        every_server["Thunderbird Account Hub"] = from_thunderbird(found["hub"])
        every_server["Delta Chat (IMAP/SMTP)"] = from_deltachat(
            deltachat["accounts"][variant.address]["used"]
        )
    preferred = {
        "config-v1.1, first of each protocol": _preferred(xml),
        "POX 2006a": http.pox,
        "Thunderbird Exchange lookup": from_thunderbird(found["exchange"]),
    }
    if not variant.has_autoconfig:
        # No autoconfig name: the Account Hub's answer is the Exchange one.
        preferred["Thunderbird Account Hub"] = from_thunderbird(found["hub"])
    msmtp = from_msmtp(lab.ns.run("msmtp", f"--configure={variant.address}").stdout)
    for name, servers in every_server.items():
        expected = _imap_smtp(xml) if name.startswith("Delta Chat") else xml
        assert servers == expected, name
    for name, servers in preferred.items():
        assert servers == variant.pox, name
    assert msmtp == xml[1][0], "msmtp (SRV) and HTTP disagree on the submission server"
    # No variant prefers STARTTLS or POP3, where the profile deliberately differs.
    imap_first, smtp_first = variant.pox[0][0], variant.pox[1][0]
    assert http.profile == (apple_security(imap_first), apple_security(smtp_first))
    redirects = tuple(url for url in http.well_known if url)
    assert variant.dav == http.xml_dav == http.pox_dav == http.profile_dav == redirects


def _logins(summary: dict[str, Any]) -> set[str]:
    """The logins Thunderbird creates the account with (incoming and outgoing server,
    placeholders filled by its AccountConfig.replaceVariables)."""
    return set(summary["logins"].values())


def test_alias_address_logs_in_as_the_primary_everywhere(
    lab: Lab, thunderbird: dict[str, Any], deltachat: dict[str, Any]
) -> None:
    """alice@alias.lab.test (an alias of lab.test, default ``alias_login``) gets lab.test's
    servers, and every client logs in as alice@lab.test: Thunderbird through autoconfig
    (``%EMAILLOCALPART%@lab.test`` filled in) and through Exchange Autodiscover (the
    ``redirectAddr`` followed), and the Apple profile the service hands out; Delta Chat
    gets the same servers."""
    primary = VARIANTS[0]
    found = thunderbird["lookups"][ALIAS_ADDRESS]
    assert "hub" in found, found
    assert from_thunderbird(found["hub"]) == (primary.incoming, primary.outgoing)
    assert _logins(found["hub"]) == {ALIAS_LOGIN}, found["hub"]
    assert "exchange" in found, found
    assert from_thunderbird(found["exchange"]) == primary.pox
    assert _logins(found["exchange"]) == {ALIAS_LOGIN}, found["exchange"]
    # Delta Chat reads the same autoconfig document: lab.test's IMAP and SMTP servers. Its
    # log masks the login ("***@..."), so the login itself cannot be seen here; its
    # auto_mozilla.rs fills %EMAILLOCALPART% like Thunderbird.
    used = deltachat["accounts"][ALIAS_ADDRESS]["used"]
    assert from_deltachat(used) == _imap_smtp((primary.incoming, primary.outgoing))
    profile = lab.curl(f"https://autoconfig.{ALIAS}/mobileconfig?emailaddress={ALIAS_ADDRESS}")
    assert profile.status == 200
    (mail,) = [
        p
        for p in plistlib.loads(profile.body)["PayloadContent"]
        if p["PayloadType"] == "com.apple.mail.managed"
    ]
    assert mail["EmailAddress"] == ALIAS_ADDRESS
    assert {mail["IncomingMailServerUsername"], mail["OutgoingMailServerUsername"]} == {ALIAS_LOGIN}

"""The lab's hosted variant ([hosting], docs/hosted-domains.md): a mail hoster and two
customer domains the configuration does not list, served because their DNS says so.

- ``cust-mx.test`` publishes only ``MX 10 mx.mail.hoster.test.``: Thunderbird finds nothing
  at ``autoconfig.cust-mx.test`` and falls back on the MX (comm-central
  ``FetchConfig.sys.mjs``, ``fetchConfigForMX``): it asks
  ``https://autoconfig.hoster.test/mail/config-v1.1.xml?emailaddress=alice@cust-mx.test``.
- ``cust-cname.test`` points ``autoconfig``/``autodiscover`` at the hoster's names (CNAME):
  Delta Chat and Thunderbird ask ``https://autoconfig.cust-cname.test`` directly.

Both get the hoster's servers, with their own domain and the full address as login.
Kept apart from tests/lab/variants.py (zones: hoster.test, cust-mx.test, cust-cname.test).
"""

from __future__ import annotations

from typing import Any

from tests.lab.variants import Endpoint

PROVIDER = "hoster.test"
MAIL_HOSTS = ("mail.hoster.test",)
MX_CUSTOMER = "cust-mx.test"
CNAME_CUSTOMER = "cust-cname.test"
CUSTOMERS = (MX_CUSTOMER, CNAME_CUSTOMER)
#: What every hosted customer gets: the provider's servers, in its order.
INCOMING = (Endpoint(protocol="imap", host="imap.mail.hoster.test", port=993, security="tls"),)
OUTGOING = (
    Endpoint(protocol="smtp", host="smtp.mail.hoster.test", port=465, security="tls"),
    Endpoint(protocol="smtp", host="smtp.mail.hoster.test", port=587, security="starttls"),
)


def address(domain: str) -> str:
    return f"alice@{domain}"


def hosted_host_names() -> list[str]:
    """HTTP names the lab's nginx must answer (and its certificate name) for hosting: the
    provider's, and the CNAMEd customer's (a real hoster gets those on demand,
    deploy/Caddyfile.hosting; the lab's static certificate lists them)."""
    return [
        f"{label}.{d}"
        for d in (PROVIDER, CNAME_CUSTOMER)
        for label in ("autoconfig", "autodiscover")
    ]


def with_hosting(config: dict[str, Any]) -> dict[str, Any]:
    """The lab configuration plus the provider and ``[hosting]``."""
    return {
        **config,
        "domains": {**config["domains"], PROVIDER: {"display_name": "Lab Hoster"}},
        "hosting": {
            "enabled": True,
            "mail_hosts": list(MAIL_HOSTS),
            "provider": PROVIDER,
            "display_name": "{domain} (Lab Hoster)",
        },
    }

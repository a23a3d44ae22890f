"""Real clients in the lab configure themselves from our answers, for every zone variant.

- Thunderbird desktop (headless, Marionette): the Account Hub's lookup and its Exchange
  Autodiscover lookup, as parsed by Thunderbird itself;
- Delta Chat (``deltachat-rpc-server``): the servers its core settled on (``Used params``);
- msmtp ``--configure``: reads the RFC 6186/8314 SRV records itself.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.lab.conftest import report
from tests.lab.conftest import require
from tests.lab.lab import Lab
from tests.lab.variants import SERVED
from tests.lab.variants import VARIANTS
from tests.lab.variants import Endpoint
from tests.lab.variants import Variant
from tests.lab.views import from_deltachat
from tests.lab.views import from_msmtp
from tests.lab.views import from_thunderbird

pytestmark = pytest.mark.lab

_ids = [v.domain for v in VARIANTS]
_served_ids = [v.domain for v in SERVED]


def _imap_smtp(variant: Variant) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The variant's servers as Delta Chat can use them: IMAP and SMTP only."""
    return tuple(e for e in variant.incoming if e.protocol == "imap"), variant.outgoing


def _automatic(servers: tuple[tuple[Endpoint, ...], ...]) -> tuple[tuple[Endpoint, ...], ...]:
    """Delta Chat reads POX ``SSL on`` as "Automatic" (auto_outlook.rs) and tries each server
    with implicit TLS, then STARTTLS, on the port we gave."""
    return tuple(
        tuple(replace(e, security=s) for e in group for s in ("tls", "starttls"))
        for group in servers
    )


@pytest.mark.parametrize("variant", VARIANTS, ids=_ids)
def test_thunderbird_account_hub(thunderbird: dict[str, Any], variant: Variant) -> None:
    """Thunderbird's Account Hub lookup takes our https autoconfig document (not the http
    one, not a guess) with every server in our order; without autoconfig.<d> it takes the
    Exchange answer; for the refused domain it finds nothing."""
    found = thunderbird["lookups"][variant.address]
    summary = found.get("hub")
    report("Thunderbird", thunderbird["version"], variant.domain, summary)
    if not variant.served:
        assert summary is None, found
    elif variant.has_autoconfig:
        assert summary["subSource"] == "xml-from-isp-https", found
        assert from_thunderbird(summary) == (variant.incoming, variant.outgoing)
    else:
        assert summary["subSource"] == "exchange-from-url1", found
        assert from_thunderbird(summary) == variant.pox


@pytest.mark.parametrize("variant", VARIANTS, ids=_ids)
def test_thunderbird_exchange_autodiscover(thunderbird: dict[str, Any], variant: Variant) -> None:
    """Thunderbird's own POX lookup succeeds at its first URL (https://autodiscover.<d>,
    Basic credentials sent, 2006a parsed) with the preferred server of each protocol."""
    found = thunderbird["lookups"][variant.address]
    if not variant.served:
        assert "exchange" not in found and "NOT FOUND" in found["exchange_error"]
        return
    summary = found["exchange"]
    assert summary["subSource"] == "exchange-from-url1", found
    assert from_thunderbird(summary) == variant.pox


@pytest.mark.parametrize("variant", VARIANTS, ids=_ids)
def test_deltachat_configure(deltachat: dict[str, Any], variant: Variant) -> None:
    """Delta Chat's core settles on our IMAP and SMTP servers, in our order, from its first
    URL (https autoconfig with the address), or from its Autodiscover GET when the domain
    has no autoconfig name; for the refused domain it gets nothing of ours and guesses."""
    account = deltachat["accounts"][variant.address]
    used = from_deltachat(account["used"])
    report("Delta Chat", deltachat["version"], variant.domain, account["used"])
    domain = variant.domain
    if not variant.served:
        hosts = {e.host for servers in used for e in servers}
        assert hosts and not any(h.endswith("provider.test") for h in hosts), account
    elif variant.has_autoconfig:
        first = f"https://autoconfig.{domain}/mail/config-v1.1.xml?emailaddress=alice%40{domain}"
        assert account["fetched"][0] == first
        assert used == _imap_smtp(variant), account
    else:
        assert f"https://autodiscover.{domain}/autodiscover/autodiscover.xml" in account["fetched"]
        assert used == _automatic(variant.pox), account


@pytest.mark.parametrize("variant", VARIANTS, ids=_ids)
def test_msmtp_reads_the_same_submission_server(lab: Lab, variant: Variant) -> None:
    """msmtp, reading _submissions/_submission itself, picks the server our answers put
    first. For the unsigned out-of-domain zone it takes the records at face value; the
    service refuses them (404): the difference the trust policy exists for."""
    require({"msmtp": "msmtp"})
    done = lab.ns.run("msmtp", f"--configure={variant.address}", check=True)
    chosen = from_msmtp(done.stdout)
    report("msmtp", _msmtp_version(lab), variant.domain, str(chosen))
    if variant.served:
        assert chosen == variant.outgoing[0]
    else:
        assert chosen.host == "smtp.provider.test"
        assert "does not match the mail domain" in done.stdout


def _msmtp_version(lab: Lab) -> str:
    first = lab.ns.run("msmtp", "--version").stdout.splitlines()[0]
    return first.removeprefix("msmtp version ").strip()

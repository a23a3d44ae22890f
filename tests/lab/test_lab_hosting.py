"""Real clients configure addresses of a hoster's customers the configuration does not list
(tests/lab/hosted.py): Thunderbird through its MX fallback, Delta Chat through the
customer's CNAMEd autoconfig name; curl through the shipped nginx for both.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote
from urllib.parse import unquote

import pytest

from tests.lab.conftest import _executable
from tests.lab.conftest import _probe
from tests.lab.conftest import report
from tests.lab.conftest import require
from tests.lab.conftest import require_packages
from tests.lab.hosted import CNAME_CUSTOMER
from tests.lab.hosted import CUSTOMERS
from tests.lab.hosted import INCOMING
from tests.lab.hosted import MX_CUSTOMER
from tests.lab.hosted import OUTGOING
from tests.lab.hosted import PROVIDER
from tests.lab.hosted import address
from tests.lab.lab import Lab
from tests.lab.views import from_config_xml
from tests.lab.views import from_deltachat
from tests.lab.views import from_pox
from tests.lab.views import from_thunderbird
from tests.lab.views import pox_request

pytestmark = pytest.mark.lab

STRANGER = "alice@stranger.hoster.test"


@pytest.fixture(name="thunderbird_hosted", scope="module")
def fixture_thunderbird_hosted(
    lab: Lab, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    require({"thunderbird": "thunderbird", "certutil": "libnss3-tools"})
    workdir = tmp_path_factory.mktemp("thunderbird-hosted")
    addresses = [address(d) for d in CUSTOMERS]
    seen = _access_log(lab)
    found = _probe(lab, "thunderbird", str(workdir), str(lab.ca_pem), *addresses, STRANGER)
    # What nginx saw while Thunderbird looked (the proof of which URL it asked).
    found["nginx"] = _access_log(lab)[len(seen) :]
    return found


def _access_log(lab: Lab) -> list[dict[str, Any]]:
    path = lab.run_dir / "autoconf.access.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(name="deltachat_hosted", scope="module")
def fixture_deltachat_hosted(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    server = _executable("deltachat-rpc-server")
    require_packages(["deltachat-rpc-server"] * (server is None))
    assert server is not None
    workdir = tmp_path_factory.mktemp("deltachat-hosted")
    return _probe(lab, "deltachat", server, str(workdir), *(address(d) for d in CUSTOMERS))


def test_thunderbird_mx_fallback_configures_a_customer_address(
    thunderbird_hosted: dict[str, Any],
) -> None:
    """cust-mx.test publishes only an MX at the hoster: Thunderbird's Account Hub takes its
    MX fallback (the only way: autoconfig.cust-mx.test does not exist) to
    https://autoconfig.hoster.test with the address, and ends up with the hoster's servers
    and the %EMAILADDRESS% login it fills in with the customer's address."""
    found = thunderbird_hosted["lookups"][address(MX_CUSTOMER)]
    summary = found.get("hub")
    report("Thunderbird", thunderbird_hosted["version"], MX_CUSTOMER, summary)
    assert summary is not None, found
    assert from_thunderbird(summary) == (INCOMING, OUTGOING), found
    logins = {s["username"] for s in summary["incoming"] + summary["outgoing"]}
    assert logins == {"%EMAILADDRESS%"}, summary
    asked = [
        entry
        for entry in thunderbird_hosted["nginx"]
        if entry["host"] == f"autoconfig.{PROVIDER}" and "Thunderbird" in entry["user_agent"]
    ]
    assert [(e["path"], e["status"]) for e in asked] == [("/mail/config-v1.1.xml", 200)], asked


def test_thunderbird_cname_customer(thunderbird_hosted: dict[str, Any]) -> None:
    """cust-cname.test's autoconfig name is a CNAME to the hoster's: Thunderbird's first
    choice (the https autoconfig URL of the domain itself) answers."""
    found = thunderbird_hosted["lookups"][address(CNAME_CUSTOMER)]
    summary = found.get("hub")
    report("Thunderbird", thunderbird_hosted["version"], CNAME_CUSTOMER, summary)
    assert summary is not None and summary["subSource"] == "xml-from-isp-https", found
    assert from_thunderbird(summary) == (INCOMING, OUTGOING), found


def test_thunderbird_finds_nothing_for_a_stranger(thunderbird_hosted: dict[str, Any]) -> None:
    found = thunderbird_hosted["lookups"][STRANGER]
    report("Thunderbird", thunderbird_hosted["version"], "stranger.hoster.test", found.get("hub"))
    assert found.get("hub") is None, found


def test_deltachat_configures_the_cname_customer(deltachat_hosted: dict[str, Any]) -> None:
    """Delta Chat's first URL, https://autoconfig.cust-cname.test with the address, answers
    with the hoster's IMAP and SMTP servers in our order."""
    account = deltachat_hosted["accounts"][address(CNAME_CUSTOMER)]
    report("Delta Chat", deltachat_hosted["version"], CNAME_CUSTOMER, account["used"])
    first = (
        f"https://autoconfig.{CNAME_CUSTOMER}/mail/config-v1.1.xml"
        f"?emailaddress=alice%40{CNAME_CUSTOMER}"
    )
    # Delta Chat percent-encodes more than it must ("-" as %2D): compare decoded.
    assert unquote(account["fetched"][0]) == unquote(first), account
    assert from_deltachat(account["used"]) == (INCOMING, OUTGOING), account


def test_deltachat_mx_customer(deltachat_hosted: dict[str, Any]) -> None:
    """Delta Chat has no MX fallback (recorded in the summary): for a customer that
    publishes only an MX it finds nothing of ours and settles on its own guesses inside the
    customer's domain. Such customers need the CNAMEs (or SRV records) for Delta Chat."""
    account = deltachat_hosted["accounts"][address(MX_CUSTOMER)]
    report("Delta Chat", deltachat_hosted["version"], MX_CUSTOMER, account["used"])
    imap, smtp = from_deltachat(account["used"])
    hosts = {e.host for e in (*imap, *smtp)}
    assert hosts, account
    assert all(h == MX_CUSTOMER or h.endswith(f".{MX_CUSTOMER}") for h in hosts), account
    assert not any(PROVIDER in url for url in account["fetched"]), account


@pytest.mark.parametrize("customer", CUSTOMERS)
def test_curl_through_nginx(lab: Lab, customer: str) -> None:
    """Through the shipped vhost at the hoster's names: config-v1.1 and POX for the
    customer's address (its own domain, never a redirect); a stranger gets 404."""
    tb = lab.curl(
        f"https://autoconfig.{PROVIDER}/mail/config-v1.1.xml?emailaddress=alice%40{customer}"
    )
    assert tb.status == 200
    assert f"<domain>{customer}</domain>".encode() in tb.body
    assert from_config_xml(tb.body) == (INCOMING, OUTGOING)
    pox = lab.curl(
        f"https://autodiscover.{PROVIDER}/autodiscover/autodiscover.xml",
        "-H",
        "Content-Type: text/xml; charset=utf-8",
        "--data-binary",
        pox_request(address(customer)),
    )
    assert pox.status == 200 and b"redirectAddr" not in pox.body
    (incoming, outgoing), _ = from_pox(pox.body)
    assert (incoming, outgoing) == (INCOMING[:1], OUTGOING[:1])
    stranger = lab.curl(
        f"https://autoconfig.{PROVIDER}/mail/config-v1.1.xml?emailaddress={quote(STRANGER)}"
    )
    assert stranger.status == 404


def test_tls_ask_is_not_reachable_through_nginx(lab: Lab) -> None:
    response = lab.curl(f"https://autoconfig.{PROVIDER}/tls-ask?domain=autoconfig.{PROVIDER}")
    assert response.status == 404

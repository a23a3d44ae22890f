"""Hosted domains over a real Knot: tests/zones/hoster.test.zone (the operator) and
customers.test.zone (one customer domain per way of reaching it, or not).

Every client format and entry point applies the same rule; DNS queries are counted by Knot
itself (mod-stats), and the caches and the budget run on an injected clock, so nothing here
depends on how fast the machine is.
"""

from __future__ import annotations

import json
import logging
import plistlib
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from autoconf import create_app
from autoconf import hosting
from autoconf.address import parse_address
from autoconf.cli import main
from autoconf.diagnostics.clientread import Answer
from autoconf.diagnostics.clientread import read_autoconfig
from autoconf.diagnostics.clientread import read_mobilesync
from autoconf.diagnostics.clientread import read_pox_thunderbird
from autoconf.diagnostics.clientread import read_v2
from autoconf.discovery import questions
from autoconf.web.state import EXTENSION
from tests.doubles import FakeClock
from tests.knot import Knot
from tests.pox import POX_PATH
from tests.pox import XML
from tests.pox import activesync_body
from tests.pox import error_of
from tests.pox import outlook_body
from tests.servers import to_toml

PROVIDER = "hoster.test"
EAS = "https://eas.mail.hoster.test/Microsoft-Server-ActiveSync"
TB = "/mail/config-v1.1.xml"
V2 = "/autodiscover/autodiscover.json"
#: Questions of one hosting decision, and of one listed domain's settings.
DECISION = len(hosting.questions("x.customers.test"))
SETTINGS = len(questions(PROVIDER))


def hosting_config(knot: Knot, **hosting_keys: Any) -> dict[str, Any]:
    return {
        "dns": {"nameservers": [knot.nameserver], "timeout": 1.0},
        "domains": {
            PROVIDER: {"display_name": "Hoster Mail", "activesync_url": EAS},
            "example.test": {},
        },
        "hosting": {
            "enabled": True,
            "mail_hosts": ["mail.hoster.test"],
            "provider": PROVIDER,
            "display_name": "{domain} (Hoster Mail)",
            **hosting_keys,
        },
    }


@pytest.fixture(name="clock")
def fixture_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(name="hosted_app")
def fixture_hosted_app(running_knot: Knot, clock: FakeClock) -> Flask:
    app = create_app(hosting_config(running_knot), clock=clock)
    app.config["TESTING"] = True
    return app


@pytest.fixture(name="client")
def fixture_client(hosted_app: Flask) -> FlaskClient:
    return hosted_app.test_client()


@dataclass(frozen=True)
class Customer:
    """A customer domain of customers.test.zone and what every client must get."""

    label: str
    kind: hosting.Kind
    #: (protocol, host, port, security) in the order clients are told.
    incoming: tuple[tuple[str, str, int, str], ...] = ()
    outgoing: tuple[tuple[str, str, int, str], ...] = ()
    caldav: str = ""

    @property
    def domain(self) -> str:
        return f"{self.label}.customers.test"

    @property
    def address(self) -> str:
        return f"alice@{self.domain}"

    @property
    def served(self) -> bool:
        return self.kind in hosting.SERVED_KINDS


IMAP = ("imap", "imap.mail.hoster.test", 993, "tls")
SUBMISSIONS = ("smtp", "smtp.mail.hoster.test", 465, "tls")
SUBMISSION = ("smtp", "smtp.mail.hoster.test", 587, "starttls")
PROVIDER_SETTINGS = {
    "incoming": (IMAP,),
    "outgoing": (SUBMISSIONS, SUBMISSION),
    "caldav": "https://dav.mail.hoster.test/dav/cal/",
}
NOT_SERVED = hosting.Kind.NOT_SERVED
CUSTOMERS = (
    Customer(
        "own-srv",
        hosting.Kind.SRV,
        incoming=(IMAP,),
        outgoing=(SUBMISSION,),
        caldav="https://dav.mail.hoster.test:8443/cal/own-srv/",
    ),
    Customer("mx-only", hosting.Kind.MX, **PROVIDER_SETTINGS),
    Customer("partly", NOT_SERVED),
    Customer("partly-mx", hosting.Kind.MX, **PROVIDER_SETTINGS),
    Customer("own-servers", hosting.Kind.MX, **PROVIDER_SETTINGS),
    Customer("mx-elsewhere", NOT_SERVED),
    Customer("cname", hosting.Kind.CNAME, **PROVIDER_SETTINGS),
    Customer("cname-other", NOT_SERVED),
    Customer("null-mx", NOT_SERVED),
    Customer("xn--mller-kva", hosting.Kind.MX, **PROVIDER_SETTINGS),
    Customer("gone", NOT_SERVED),
)
IDS = [c.label for c in CUSTOMERS]


def seen(reading: Any) -> tuple[tuple[tuple[str, str, int, str], ...], ...]:
    def rows(servers: Any) -> tuple[tuple[str, str, int, str], ...]:
        return tuple((s.protocol, s.host, s.port, s.security) for s in servers)

    return rows(reading.incoming), rows(reading.outgoing)


def answer(response: TestResponse) -> Answer:
    return Answer(
        url="",
        status=response.status_code,
        content_type=response.content_type or "",
        body=response.data,
    )


# --- every client format, every customer kind ------------------------------------------


@pytest.mark.parametrize("customer", CUSTOMERS, ids=IDS)
def test_thunderbird(client: FlaskClient, customer: Customer) -> None:
    """config-v1.1 for the address (its own domain in the document, logins the full
    address), through the customer's autoconfig name, its well-known URL and the
    provider's autoconfig name (Thunderbird's MX fallback); 404 with no body otherwise."""
    query = f"{TB}?emailaddress={urllib.parse.quote(customer.address)}"
    responses = [
        client.get(query, headers={"Host": f"autoconfig.{customer.domain}"}),
        client.get(query, headers={"Host": f"autoconfig.{PROVIDER}"}),
        client.get(TB, headers={"Host": f"autoconfig.{customer.domain}"}),
        client.get(f"/.well-known/autoconfig{TB}", headers={"Host": customer.domain}),
    ]
    for response in responses:
        if not customer.served:
            assert (response.status_code, response.data) == (404, b"")
            continue
        assert response.status_code == 200
        reading = read_autoconfig(answer(response), parse_address(customer.address))
        assert seen(reading) == (customer.incoming, customer.outgoing), reading
        assert {s.username for s in (*reading.incoming, *reading.outgoing)} == {customer.address}
        assert f"<domain>{customer.domain}</domain>".encode() in response.data
        assert f"{customer.domain} (Hoster Mail)".encode() in response.data
        assert customer.caldav.encode() in response.data


@pytest.mark.parametrize("customer", CUSTOMERS, ids=IDS)
def test_outlook_pox(client: FlaskClient, customer: Customer) -> None:
    """POX 2006a for the customer's own mailbox: never a redirectAddr to the provider."""
    for host in (f"autodiscover.{customer.domain}", f"autodiscover.{PROVIDER}"):
        response = client.post(
            POX_PATH, data=outlook_body(customer.address), content_type=XML, headers={"Host": host}
        )
        if not customer.served:
            assert response.status_code == 404
            assert error_of(response.data).code == 601
            continue
        assert response.status_code == 200
        assert b"redirectAddr" not in response.data
        reading = read_pox_thunderbird(answer(response), parse_address(customer.address))
        assert seen(reading) == (customer.incoming[:1], customer.outgoing[:1]), reading
        assert {s.username for s in reading.incoming} == {customer.address}


@pytest.mark.parametrize("customer", CUSTOMERS, ids=IDS)
def test_activesync_and_v2(client: FlaskClient, customer: Customer) -> None:
    """mobilesync gets the provider's ActiveSync URL, v2 the customer's POX URL."""
    host = {"Host": f"autodiscover.{customer.domain}"}
    eas = client.post(
        POX_PATH, data=activesync_body(customer.address), content_type=XML, headers=host
    )
    v2 = client.get(f"{V2}?Email={customer.address}&Protocol=AutodiscoverV1", headers=host)
    v2_path = client.get(f"{V2}/v1.0/{customer.address}?Protocol=ActiveSync", headers=host)
    if not customer.served:
        assert [eas.status_code, v2.status_code, v2_path.status_code] == [404, 404, 404]
        assert json.loads(v2.data)["ErrorCode"] == "NotFound"
        return
    assert read_mobilesync(answer(eas)).url == EAS
    pox_url = f"https://autodiscover.{customer.domain}/autodiscover/autodiscover.xml"
    assert read_v2(answer(v2)).url == pox_url
    assert read_v2(answer(v2_path)).url == EAS


@pytest.mark.parametrize("customer", CUSTOMERS, ids=IDS)
def test_apple_profile(client: FlaskClient, customer: Customer) -> None:
    response = client.get(
        f"/mobileconfig?emailaddress={customer.address}",
        headers={"Host": f"autoconfig.{PROVIDER}"},
    )
    if not customer.served:
        assert response.status_code == 404
        return
    assert response.status_code == 200
    profile = plistlib.loads(response.data)
    (mail,) = [p for p in profile["PayloadContent"] if p["PayloadType"] == "com.apple.mail.managed"]
    assert mail["IncomingMailServerHostName"] == customer.incoming[0][1]
    assert mail["IncomingMailServerUsername"] == customer.address
    assert mail["EmailAccountDescription"] == f"{customer.domain} (Hoster Mail)"
    assert mail["EmailAddress"] == customer.address


@pytest.mark.parametrize("customer", CUSTOMERS, ids=IDS)
def test_well_known_caldav(client: FlaskClient, customer: Customer) -> None:
    """RFC 6764 redirect for Host <d>: the customer's own DAV record, or the provider's."""
    response = client.open(
        "/.well-known/caldav", method="PROPFIND", headers={"Host": customer.domain}
    )
    if not customer.served:
        assert response.status_code == 404
        return
    assert (response.status_code, response.headers["Location"]) == (307, customer.caldav)


@pytest.mark.parametrize("customer", CUSTOMERS, ids=IDS)
def test_tls_ask(client: FlaskClient, customer: Customer) -> None:
    """Caddy's ``ask``: yes exactly for autoconfig./autodiscover. of a served domain."""
    expected = 200 if customer.served else 404
    for label in ("autoconfig", "autodiscover"):
        response = client.get(f"/tls-ask?domain={label}.{customer.domain}")
        assert response.status_code == expected
    assert client.get(f"/tls-ask?domain={customer.domain}").status_code == 404
    assert client.get(f"/tls-ask?domain=www.{customer.domain}").status_code == 404


def test_tls_ask_is_refused_through_a_proxy(client: FlaskClient) -> None:
    """Every shipped front end adds X-Forwarded-For (ingress-nginx too); Caddy's own
    question carries none: a proxied /tls-ask is 404 whatever the name."""
    url = "/tls-ask?domain=autoconfig.hoster.test"
    assert client.get(url).status_code == 200
    for header in ({"X-Forwarded-For": "203.0.113.7"}, {"Forwarded": "for=203.0.113.7"}):
        assert client.get(url, headers=header).status_code == 404


def test_tls_ask_for_listed_names_costs_no_query(client: FlaskClient, running_knot: Knot) -> None:
    before = running_knot.queries()
    for name in ("autoconfig.hoster.test", "autodiscover.example.test"):
        assert client.get(f"/tls-ask?domain={name}").status_code == 200
    for name in ("", "autoconfig.", "autoconfig..x", "-bad-.test", "autoconfig.x_y.test"):
        assert client.get(f"/tls-ask?domain={name}").status_code == 404
    assert running_knot.queries() == before


@pytest.mark.parametrize("customer", CUSTOMERS, ids=IDS)
def test_diagnostics_page_says_why(client: FlaskClient, customer: Customer) -> None:
    response = client.get(
        "/", query_string={"address": customer.address}, headers={"Host": f"autoconfig.{PROVIDER}"}
    )
    page = response.get_data(as_text=True)
    if not customer.served:
        assert response.status_code == 404
        assert "not served" in page
        assert "not by MX" in page  # the failed condition is named
        return
    assert response.status_code == 200
    assert hosting.KIND_TEXT[customer.kind] in page


def test_idn_customer_by_its_u_label(client: FlaskClient) -> None:
    """müller.customers.test, typed in Unicode, is the A-label domain everywhere."""
    response = client.get(f"{TB}?emailaddress=alice@müller.customers.test")
    assert response.status_code == 200
    assert b"<domain>xn--mller-kva.customers.test</domain>" in response.data


def test_provider_without_address_is_the_providers_own_answer(client: FlaskClient) -> None:
    """Thunderbird for Android asks autoconfig.<mx domain> without the address (it never
    sends one after its MX step): it gets the provider's own document, whose
    %EMAILADDRESS% login works for every customer address."""
    response = client.get(TB, headers={"Host": f"autoconfig.{PROVIDER}"})
    assert response.status_code == 200
    assert b"<domain>hoster.test</domain>" in response.data
    assert b"<username>%EMAILADDRESS%</username>" in response.data


# --- the Host check ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("autoconfig.gone.customers.test", 404),  # admitted, then not served
        ("autodiscover.mx-only.customers.test", 200),
        ("mx-only.customers.test:443", 200),
        ("bad_host!", 400),
        ("printer.local", 400),
        ("autoconfig.localhost", 400),
        ("192.0.2.1", 400),
        ("com", 400),
    ],
)
def test_host_check_admits_possible_hosted_names(
    client: FlaskClient, host: str, status: int
) -> None:
    assert client.get(TB, headers={"Host": host}).status_code == status


def test_hosting_off_keeps_the_strict_host_check(running_knot: Knot) -> None:
    app = create_app(hosting_config(running_knot, enabled=False))
    response = app.test_client().get(TB, headers={"Host": "autoconfig.mx-only.customers.test"})
    assert response.status_code == 400


# --- DNS cost, counted by Knot -------------------------------------------------------------


def every_format(
    address: str, *, page: bool = True
) -> list[tuple[str, str, bytes | None, dict[str, str]]]:
    """Every entry point for ``address``; the diagnostics page (which looks a served
    domain up afresh, for people) only when ``page``."""
    domain = address.partition("@")[2]
    return [
        ("GET", f"{TB}?emailaddress={address}", None, {}),
        ("GET", TB, None, {"Host": f"autoconfig.{domain}"}),
        ("POST", POX_PATH, outlook_body(address), {}),
        ("POST", POX_PATH, activesync_body(address), {}),
        ("GET", f"{POX_PATH}?Email={address}", None, {}),
        ("GET", f"{V2}?Email={address}&Protocol=AutodiscoverV1", None, {}),
        ("GET", f"/mobileconfig?emailaddress={address}", None, {}),
        ("PROPFIND", "/.well-known/caldav", None, {"Host": domain}),
        ("GET", f"/tls-ask?domain=autoconfig.{domain}", None, {}),
        *([("GET", f"/?address={address}", None, {})] if page else []),
    ]


def send_all(client: FlaskClient, address: str, *, page: bool = True) -> list[int]:
    statuses = []
    for method, url, body, headers in every_format(address, page=page):
        response = client.open(
            url,
            method=method,
            data=body,
            content_type=XML if body else None,
            headers={"Host": f"autoconfig.{PROVIDER}", **headers},
        )
        statuses.append(response.status_code)
    return statuses


def test_hosting_off_costs_zero_queries(running_knot: Knot) -> None:
    """[hosting] configured but disabled: a customer of every kind costs no DNS query in
    any format, as without the section."""
    client = create_app(hosting_config(running_knot, enabled=False)).test_client()
    before = running_knot.queries()
    for customer in CUSTOMERS:
        assert set(send_all(client, customer.address)) <= {400, 404}
    assert running_knot.queries() == before


def test_a_stranger_costs_one_decision_then_nothing(
    client: FlaskClient, running_knot: Knot
) -> None:
    """The first request asks the fixed question set once (17 questions, one lookup);
    every format and every repeat after that is answered from the cached decision."""
    before = running_knot.queries()
    assert set(send_all(client, "alice@gone.customers.test")) == {404}
    assert running_knot.queries() - before == DECISION
    for _ in range(3):
        assert set(send_all(client, "bob@gone.customers.test")) == {404}
    assert running_knot.queries() - before == DECISION


def test_a_negative_decision_lives_for_its_rfc2308_ttl(
    client: FlaskClient, running_knot: Knot, clock: FakeClock
) -> None:
    """customers.test's SOA gives a negative TTL of min(300, 90) = 90 s: asked again only
    after that."""
    address = f"{TB}?emailaddress=a@gone2.customers.test"
    before = running_knot.queries()
    client.get(address)
    clock.advance(89)
    client.get(address)
    assert running_knot.queries() - before == DECISION
    clock.advance(2)
    client.get(address)
    assert running_knot.queries() - before == 2 * DECISION


def test_a_hosted_domain_costs_its_decision_and_the_providers_settings_once(
    client: FlaskClient, running_knot: Knot
) -> None:
    """Every client format of an MX-hosted customer: its decision (17 questions) and the
    provider's settings (14), once; the next customer costs its decision only."""
    before = running_knot.queries()
    assert set(send_all(client, "alice@mx-only.customers.test", page=False)) == {200, 307}
    assert running_knot.queries() - before == DECISION + SETTINGS
    # A second MX-hosted customer shares the provider's cached settings.
    assert set(send_all(client, "a@xn--mller-kva.customers.test", page=False)) == {200, 307}
    assert running_knot.queries() - before == 2 * DECISION + SETTINGS
    send_all(client, "carol@mx-only.customers.test", page=False)
    assert running_knot.queries() - before == 2 * DECISION + SETTINGS


def test_listed_domains_cost_what_they_always_did(client: FlaskClient, running_knot: Knot) -> None:
    """A listed domain never makes a hosting decision: its settings' questions only."""
    before = running_knot.queries()
    assert client.get(f"{TB}?emailaddress=a@example.test").status_code == 200
    assert running_knot.queries() - before == len(questions("example.test"))


def test_concurrent_requests_for_one_stranger_ask_once(
    client: FlaskClient, running_knot: Knot
) -> None:
    """Single flight: twelve threads asking about one new name cost one decision."""
    before = running_knot.queries()
    statuses: list[int] = []

    def ask() -> None:
        statuses.append(client.get(f"{TB}?emailaddress=a@crowd.customers.test").status_code)

    threads = [threading.Thread(target=ask) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [404] * 12
    assert running_knot.queries() - before == DECISION


def test_names_never_looked_up_cost_nothing(client: FlaskClient, running_knot: Knot) -> None:
    """Special-use names are refused unasked (the address parser already refuses some of
    them as addresses: 400); so are Hosts naming them."""
    before = running_knot.queries()
    for address in ("a@printer.local", "a@x.onion", "a@1.2.0.192.in-addr.arpa", "a@corp.internal"):
        assert client.get(f"{TB}?emailaddress={address}").status_code in (400, 404)
        domain = address.partition("@")[2]
        assert client.get(TB, headers={"Host": f"autoconfig.{domain}"}).status_code == 400
        assert client.get(f"/tls-ask?domain=autoconfig.{domain}").status_code == 404
    assert running_knot.queries() == before


def test_a_failed_decision_is_503_and_remembered_briefly(
    client: FlaskClient, running_knot: Knot, clock: FakeClock
) -> None:
    """broken.test answers SERVFAIL: never taken for absence (503 + Retry-After, not 404),
    and not asked again within [cache] failure_ttl (5 s)."""
    before = running_knot.queries()
    url = f"{TB}?emailaddress=a@customer.broken.test"
    first = client.get(url)
    assert first.status_code == 503 and first.headers["Retry-After"]
    asked = running_knot.queries() - before
    assert 0 < asked <= DECISION * 2  # SERVFAIL makes a question go to no other server
    assert client.get(url).status_code == 503
    assert running_knot.queries() - before == asked
    clock.advance(6)
    assert client.get(url).status_code == 503
    assert running_knot.queries() - before == 2 * asked


# --- the budget -----------------------------------------------------------------------------


@pytest.fixture(name="tight")
def fixture_tight(running_knot: Knot, clock: FakeClock) -> FlaskClient:
    """Two cold decisions per second (burst two)."""
    app = create_app(hosting_config(running_knot, decisions_per_second=2), clock=clock)
    return app.test_client()


def test_budget_bounds_cold_decisions(
    tight: FlaskClient, running_knot: Knot, clock: FakeClock
) -> None:
    """Beyond the budget: 503 + Retry-After and no query; listed domains are not touched by
    it; a second later the budget has refilled."""
    before = running_knot.queries()
    statuses = [tight.get(f"{TB}?emailaddress=a@s{n}.customers.test").status_code for n in range(6)]
    assert statuses == [404, 404, 503, 503, 503, 503]
    assert running_knot.queries() - before == 2 * DECISION
    refused = tight.get(f"{TB}?emailaddress=a@s9.customers.test")
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    assert tight.get(f"{TB}?emailaddress=a@example.test").status_code == 200  # listed
    assert running_knot.queries() - before == 2 * DECISION + len(questions("example.test"))
    clock.advance(1)
    assert tight.get(f"{TB}?emailaddress=a@s20.customers.test").status_code == 404
    assert tight.get(f"{TB}?emailaddress=a@s21.customers.test").status_code == 404
    assert tight.get(f"{TB}?emailaddress=a@s22.customers.test").status_code == 503


def test_budget_refusal_in_every_format(tight: FlaskClient, clock: FakeClock) -> None:
    """Each client gets "temporarily unavailable" in its own format, like a DNS outage."""
    tight.get(f"{TB}?emailaddress=a@spend1.customers.test")
    tight.get(f"{TB}?emailaddress=a@spend2.customers.test")
    for n, (method, url, body, headers) in enumerate(every_format("a@fresh.customers.test")):
        # A new name each time: a refused name is remembered (failure_ttl) like an outage.
        url = url.replace("fresh", f"fresh{n}")
        headers = {k: v.replace("fresh", f"fresh{n}") for k, v in headers.items()}
        body = body.replace(b"fresh", f"fresh{n}".encode()) if body else None
        response = tight.open(
            url, method=method, data=body, content_type=XML if body else None, headers=headers
        )
        assert response.status_code == 503, url
        assert response.headers["Retry-After"], url
        if url.startswith(POX_PATH) and method == "POST":
            assert error_of(response.data).code == 603
        if url.startswith(V2):
            assert json.loads(response.data)["ErrorCode"] == "ServiceUnavailable"


def test_budget_refusals_are_not_logged_as_outages(
    tight: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A flood must not flood the log with warnings: a refusal is a debug line (next to the
    request line every request gets), also when a refused name is asked again."""
    with caplog.at_level(logging.DEBUG, logger="autoconf"):
        for n in range(4):
            tight.get(f"{TB}?emailaddress=a@quiet{n}.customers.test")
        assert tight.get(f"{TB}?emailaddress=a@quiet3.customers.test").status_code == 503
    refusals = [r for r in caplog.records if "DecisionBudgetError" in r.getMessage()]
    assert len(refusals) == 3
    assert {r.levelno for r in refusals} == {logging.DEBUG}


def test_known_hosted_domains_stay_served_while_the_budget_is_spent(
    tight: FlaskClient, clock: FakeClock
) -> None:
    """A flood of strangers does not take served customers down: a hosted decision whose
    lifetime ended is served stale (RFC 8767) while no token is left to refresh it."""
    url = f"{TB}?emailaddress=a@mx-only.customers.test"
    assert tight.get(url).status_code == 200
    clock.advance(4000)  # past every lifetime; the budget is full again
    tight.get(f"{TB}?emailaddress=a@flood1.customers.test")
    tight.get(f"{TB}?emailaddress=a@flood2.customers.test")
    stale = tight.get(url)
    assert stale.status_code == 200
    assert b"imap.mail.hoster.test" in stale.data


def test_metrics_count_decisions_by_outcome(hosted_app: Flask, client: FlaskClient) -> None:
    for label in ("mx-only", "own-srv", "cname", "gone", "gone"):
        client.get(f"{TB}?emailaddress=a@{label}.customers.test")
    text = hosted_app.extensions[EXTENSION].metrics.exposition().decode()
    counts = {
        line.split('outcome="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("autoconf_hosting_decisions_total{")
    }
    assert counts == {"mx": 1.0, "srv": 1.0, "cname": 1.0, "not-served": 1.0}
    assert "customers.test" not in text


def cache_events(app: Flask) -> dict[str, float]:
    """``autoconf_cache_events_total`` by event (request outcomes of both caches)."""
    text = app.extensions[EXTENSION].metrics.exposition().decode()
    return {
        line.split('event="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("autoconf_cache_events_total{")
    }


@pytest.mark.parametrize(
    "domain", ["mx-only.customers.test", "own-srv.customers.test", "cname.customers.test", PROVIDER]
)
def test_a_warm_request_reads_its_settings_once(hosted_app: Flask, domain: str) -> None:
    """Every client format looks a warm domain's settings up once per request, hosted or
    listed: one hit each in ``autoconf_cache_events_total`` (request outcomes). The POX
    schema and alias checks and the DAV redirect route the domain first; for a hosted
    domain that reads its decision, whose settings the answer then uses (it looked the
    decision cache up two or three times, each counted as a hit)."""
    client = hosted_app.test_client()
    formats = [e for e in every_format(f"alice@{domain}", page=False) if "/tls-ask" not in e[1]]

    def send(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> int:
        return client.open(
            url,
            method=method,
            data=body,
            content_type=XML if body else None,
            headers={"Host": f"autoconfig.{PROVIDER}", **headers},
        ).status_code

    for entry in formats:  # warm: decided and loaded
        send(*entry)
    for method, url, body, headers in formats:
        before = cache_events(hosted_app)
        status = send(method, url, body, headers)
        assert status in (200, 307), (url, status)
        after = cache_events(hosted_app)
        moved = {event: after[event] - before.get(event, 0.0) for event in after}
        assert {e: n for e, n in moved.items() if n} == {"hit": 1.0}, (method, url)


# --- explained: check and check --json ---------------------------------------------------


def check(knot: Knot, tmp_path: Path, *args: str, **hosting_keys: Any) -> tuple[int, str]:
    path = tmp_path / "autoconf.toml"
    path.write_text(to_toml(hosting_config(knot, **hosting_keys)))
    result = CliRunner().invoke(main, ["check", "--config", str(path), *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("target", "kind", "decided_by"),
    [
        ("alice@own-srv.customers.test", "srv", ""),
        ("alice@mx-only.customers.test", "mx", "MX"),
        ("cname.customers.test", "cname", "CNAME"),
        ("hoster.test", "listed", ""),
    ],
)
def test_check_json_carries_the_decision(
    running_knot: Knot, tmp_path: Path, target: str, kind: str, decided_by: str
) -> None:
    code, output = check(running_knot, tmp_path, "--json", target)
    report = json.loads(output)
    assert code == 0, output
    assert report["served"] is True
    serving = report["serving"]
    assert serving["kind"] == kind and serving["served"] is True
    assert [r["type"] for r in serving["records"]] == ([decided_by] if decided_by else [])
    assert report["servers"][0]["host"] == "imap.mail.hoster.test"


def test_check_says_which_condition_failed(running_knot: Knot, tmp_path: Path) -> None:
    code, output = check(running_knot, tmp_path, "alice@partly.customers.test")
    assert code == 1
    assert output.splitlines()[0] == "partly.customers.test (NOT served)"
    assert "not by SRV: _submissions._tcp names smtp.elsewhere.test" in output
    assert "not by MX: its most preferred MX mx.elsewhere.test (preference 10)" in output
    assert "decided by: partly.customers.test." in output  # the MX record shown
    code, output = check(running_knot, tmp_path, "--json", "gone.customers.test")
    report = json.loads(output)
    assert (code, report["served"], report["serving"]["kind"]) == (1, False, "not-served")
    assert report["serving"]["ttl"] == 90  # RFC 2308: min(SOA TTL, SOA minimum)


def test_check_explains_hosted_by_mx(running_knot: Knot, tmp_path: Path) -> None:
    code, output = check(running_knot, tmp_path, "alice@mx-only.customers.test")
    assert code == 0, output
    assert output.splitlines()[0] == "mx-only.customers.test (served: hosted by MX)"
    assert "MX: its most preferred MX mx.mail.hoster.test (preference 10) lies under" in output


def test_check_with_hosting_off_names_the_reason(running_knot: Knot, tmp_path: Path) -> None:
    code, output = check(running_knot, tmp_path, "--json", "mx-only.customers.test", enabled=False)
    report = json.loads(output)
    assert code == 1
    assert report["serving"]["kind"] == "not-served"
    assert "[hosting] is off" in report["serving"]["reasons"][0]

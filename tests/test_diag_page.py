"""The diagnostics page at / through Flask's test client: every state it can be in."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import html

from autoconf import create_app
from autoconf.address import Address
from autoconf.diagnostics.documents import DOCUMENTS
from autoconf.diagnostics.documents import NOT_AVAILABLE
from autoconf.diagnostics.documents import ClientDocument
from autoconf.diagnostics.documents import Inputs
from autoconf.diagnostics.documents import Shown
from autoconf.diagnostics.documents import show
from autoconf.diagnostics.report import build_report
from autoconf.formats import ClientFormat
from autoconf.web.diag import MAX_INPUT
from autoconf.web.state import EXTENSION
from tests.conftest import ZONE_FILE
from tests.conftest import config
from tests.doubles import FakeClock


def page(client: FlaskClient, address: str | None = None) -> tuple[int, html.HtmlElement, str]:
    """GET / (with ``address``); returns status, parsed document and raw text."""
    response = client.get("/", query_string={"address": address} if address is not None else {})
    text = response.get_data(as_text=True)
    return response.status_code, html.fromstring(text), text


def texts(doc: html.HtmlElement, xpath: str) -> list[str]:
    """Whitespace-normalised text of every node matching ``xpath``."""
    return [" ".join(node.text_content().split()) for node in doc.xpath(xpath)]


def queries(app: Flask) -> int:
    """DNS questions the app's zone-file source has answered so far."""
    count: int = app.extensions[EXTENSION].discoverer.source.queries_sent
    return count


def test_empty_form_is_accessible(client: FlaskClient) -> None:
    """Without input: 200, a labelled GET form, landmarks, and no result section."""
    status, doc, _ = page(client)
    assert status == 200
    form = doc.xpath("//main//form")[0]
    assert form.get("method") == "get"
    field = form.xpath(".//input[@name='address']")[0]
    assert doc.xpath(f"//label[@for='{field.get('id')}']")
    assert int(field.get("maxlength")) == MAX_INPUT
    assert doc.xpath("//header") and doc.xpath("//main") and doc.xpath("//footer")
    assert doc.xpath("//html/@lang") == ["en"]
    assert not doc.xpath("//*[@id='result']")
    assert not doc.xpath("//script")


def test_served_address_shows_everything(client: FlaskClient) -> None:
    """A served address: verdict, settings in order, records with TTLs, trust decisions,
    findings with references, and the Thunderbird document exactly as clients get it."""
    status, doc, _ = page(client, "alice@example.test")
    assert status == 200
    verdict = texts(doc, "//p[contains(@class,'verdict')]")[0]
    assert verdict.startswith("OK: clients are told IMAP mail.example.test:993 (tls)")
    settings = texts(doc, "//table[@id='settings']/tbody/tr/td[2]")
    assert settings[:2] == ["mail.example.test:993", "pop.example.test:995"]
    records = {
        tuple(row[:2]): row
        for row in (
            [" ".join(td.text_content().split()) for td in tr.xpath("td")]
            for tr in doc.xpath("//table[@id='records']/tbody/tr")
        )
    }
    assert records[("_imaps._tcp.example.test.", "SRV")][2:4] == ["answer", "300"]
    assert records[("_imaps._tcp.example.test.", "SRV")][5] == "0 1 993 mail.example.test."
    assert records[("_smtps._tcp.example.test.", "SRV")][2] == "nxdomain"
    decisions = texts(doc, "//table[@id='trust']/tbody/tr")
    assert "_imaps 0 1 993 mail.example.test. served inside example.test" in decisions
    assert any(d.startswith("_imap 0 0 0 . dropped target '.'") for d in decisions)
    body = doc.xpath("//article[@id='doc-thunderbird']//pre")[0].text_content()
    assert client.get("/mail/config-v1.1.xml?emailaddress=alice@example.test").text == body


def test_every_format_has_its_card(client: FlaskClient) -> None:
    """Each format of the registry has a card with the rendered document, or a note saying
    it is not in this build; the profile card is the unsigned property list."""
    _, doc, _ = page(client, "alice@example.test")
    for fmt in DOCUMENTS:
        card = doc.xpath(f"//article[@id='doc-{fmt.key}']")[0]
        assert bool(card.xpath(".//pre")) is (fmt.render is not None), fmt.key
    profile = doc.xpath("//article[@id='doc-profile']//pre")[0].text_content()
    assert "<string>alice@example.test</string>" in profile and "<plist" in profile


def test_format_without_renderer_is_not_faked(app: Flask) -> None:
    """A format whose renderer is not in this build shows a note and no document."""
    state = app.extensions[EXTENSION]
    provider = state.discoverer.provider("example.test")
    inputs = Inputs(
        templates=state.templates,
        settings=state.settings,
        provider=provider,
        address=Address(local_part="alice", domain="example.test"),
    )
    pending = ClientDocument(
        key="future",
        format=ClientFormat.THUNDERBIRD,
        title="Future format",
        readers="",
        request="",
    )
    assert show(pending, inputs) == Shown(document=pending, note=NOT_AVAILABLE)


def test_refusals_show_the_error_document(client: FlaskClient) -> None:
    """A domain without ActiveSync: the mobilesync card says what clients get instead
    (error 601) and shows that Error document; the other formats still show settings."""
    _, doc, _ = page(client, "weights.example.test")
    card = doc.xpath("//article[@id='doc-mobilesync']")[0]
    assert texts(card, ".//p[@class='note']") == [
        "HTTP 200, Autodiscover error 601: Provider is not available for the requested schema"
    ]
    assert "<ErrorCode>601</ErrorCode>" in card.xpath(".//pre")[0].text_content()
    pox = doc.xpath("//article[@id='doc-pox']//pre")[0].text_content()
    assert "<LoginName>user@weights.example.test</LoginName>" in pox


def test_page_and_cli_report_agree(app: Flask, client: FlaskClient) -> None:
    """The page shows the same verdict and findings as the report `check` prints."""
    report = build_report(app.extensions[EXTENSION].discoverer, "starttls.example.test")
    _, doc, _ = page(client, "starttls.example.test")
    assert texts(doc, "//p[contains(@class,'verdict')]") == [report.verdict]
    shown = texts(doc, "//ul[@id='findings']/li/code")
    assert shown == [f.code for f in report.findings] and "cleartext-start" in shown
    cleartext = texts(doc, "//ul[@id='findings']/li[code='cleartext-start']")
    assert cleartext[0].endswith("(RFC 8314 §3)")


def test_alias_names_its_primary(client: FlaskClient) -> None:
    """An alias domain is diagnosed as its primary, and the heading says so."""
    status, doc, _ = page(client, "bob@alias.test")
    assert status == 200
    assert texts(doc, "//h2[@id='verdict-heading']") == [
        "Verdict for alias.test (alias of example.test)"
    ]


def test_settings_show_the_login_clients_are_given(client: FlaskClient) -> None:
    """The settings table shows the login template the documents carry: for a domain with
    aliases the primary's (alias login rule), not the configured ``%EMAILADDRESS%``."""
    _, doc, _ = page(client, "bob@alias.test")
    logins = texts(doc, "//table[@id='settings']/tbody/tr/td[4]/code")
    assert logins and set(logins) == {"%EMAILLOCALPART%@example.test"}
    _, doc, _ = page(client, "weights.example.test")
    assert set(texts(doc, "//table[@id='settings']/tbody/tr/td[4]/code")) == {"%EMAILADDRESS%"}


def test_dropped_targets_explain_no_settings(client: FlaskClient) -> None:
    """Out-of-domain targets: 200 (the diagnosis worked), verdict says clients get 404,
    every decision is 'dropped' with the RFC 6186 reason, documents say 404."""
    status, doc, _ = page(client, "evil.example.test")
    assert status == 200
    assert texts(doc, "//p[contains(@class,'verdict')]")[0].startswith("No usable settings")
    decisions = texts(doc, "//table[@id='trust']/tbody/tr/td[3]")
    assert decisions == ["dropped", "dropped"]
    note = texts(doc, "//article[@id='doc-thunderbird']//p[@class='note']")
    assert note and note[0].startswith("HTTP 404")


def test_unknown_domain_is_404_without_dns(app: Flask, client: FlaskClient) -> None:
    """A domain that is not served: 404 with a clear message, and not one DNS question."""
    before = queries(app)
    status, doc, _ = page(client, "someone@elsewhere.example")
    assert status == 404
    assert "not served here" in texts(doc, "//p[contains(@class,'verdict')]")[0]
    assert queries(app) == before


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>@example.test",
        '"><img src=x onerror=alert(1)>',
        "a&b<c>@example.test",
        "example.test\r\nSet-Cookie: x=1",
    ],
)
def test_hostile_input_is_never_echoed_raw(client: FlaskClient, hostile: str) -> None:
    """Markup in the input comes back escaped inside the value attribute, never as markup;
    the answer is a 4xx, never a 5xx."""
    status, doc, text = page(client, hostile)
    assert 400 <= status < 500
    assert "<script>" not in text and "<img" not in text
    assert not doc.xpath("//script | //img")
    # (an HTML parser reads CR LF in an attribute as LF)
    assert doc.xpath("//input[@name='address']/@value") == [hostile.replace("\r\n", "\n")]


def test_overlong_input_is_refused_unseen(client: FlaskClient) -> None:
    """Input above the cap is a 400 and is not echoed back at all."""
    long = "a" * (MAX_INPUT + 1) + "@example.test"
    status, doc, text = page(client, long)
    assert status == 400
    assert long not in text
    assert doc.xpath("//input[@name='address']/@value") == [""]


def test_security_headers(client: FlaskClient) -> None:
    """No caching of a per-query page, no script allowed, no Referer with the address."""
    response = client.get("/?address=alice@example.test")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_disabled_page_is_404() -> None:
    """[diagnostics] enabled = false: / is an unknown path, the client endpoints stay."""
    app = create_app({**config(zone_files=[str(ZONE_FILE)]), "diagnostics": {"enabled": False}})
    client = app.test_client()
    assert client.get("/?address=alice@example.test").status_code == 404
    assert client.get("/").status_code == 404
    assert client.get("/mail/config-v1.1.xml?emailaddress=alice@example.test").status_code == 200


def test_dns_failure_is_shown_with_503(knot_app: Flask) -> None:
    """SERVFAIL: the page explains the DNS failure, with the 503 + Retry-After clients get."""
    response = knot_app.test_client().get("/?address=broken.test")
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    doc = html.fromstring(response.get_data(as_text=True))
    assert texts(doc, "//p[contains(@class,'verdict')]")[0].startswith("DNS lookup failed")
    assert texts(doc, "//section[@id='result']//code")[0] == "server failure (SERVFAIL)"


def test_cache_state_of_this_worker() -> None:
    """The page reads the settings cache clients read, and says how fresh the entry is (on
    a hand-driven clock: the seconds left do not depend on how fast the test runs); a
    client asking after the page costs no DNS question."""
    clock = FakeClock()
    app = create_app(config(zone_files=[str(ZONE_FILE)]), clock=clock)
    client = app.test_client()
    _, doc, _ = page(client, "alice@example.test")
    assert texts(doc, "//*[@id='cache-state']") == ["fresh in this worker, 60 s left"]
    before = queries(app)
    assert client.get("/mail/config-v1.1.xml?emailaddress=a@example.test").status_code == 200
    clock.advance(10.5)
    _, doc, _ = page(client, "alias.test")
    assert texts(doc, "//*[@id='cache-state']") == ["fresh in this worker, 49 s left"]
    assert queries(app) == before

"""The Thunderbird document's calendar and address book, its validity against the
draft-ietf-mailmaint-autoconfig RELAX NG schema, and one DAV URL across every format."""

from __future__ import annotations

import json
import plistlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from lxml import etree

from autoconf.cli import main
from tests.conftest import published_schema
from tests.knot import Knot
from tests.pox import OUTLOOK_NS
from tests.pox import POX_PATH
from tests.pox import XML
from tests.pox import outlook_body


@pytest.fixture(name="schema", scope="module")
def fixture_schema() -> etree.RelaxNG:
    """The draft's RELAX NG schema (tests/conftest.py ``published_schema``)."""
    rng = published_schema("draft-ietf-mailmaint-autoconfig.autoconfig.rng")
    return etree.RelaxNG(etree.parse(str(rng)))


def _document(app: Flask, domain: str) -> etree._Element:
    response = app.test_client().get(f"/mail/config-v1.1.xml?emailaddress=u@{domain}")
    assert response.status_code == 200
    return etree.fromstring(response.data)


@pytest.mark.parametrize(
    "domain",
    [
        "example.test",
        "alias.test",
        "weights.example.test",
        "pop.example.test",
        "starttls.example.test",
        "hosted.example.test",
        "xn--strae-oqa.example.test",
        "davport.example.test",
        "davbad.example.test",
        "tlspref.example.test",
    ],
)
def test_documents_are_valid_against_the_draft_schema(
    knot_app: Flask, schema: etree.RelaxNG, domain: str
) -> None:
    """Every answer, with or without DAV elements, validates against the draft's schema."""
    document = _document(knot_app, domain)
    assert schema.validate(document), schema.error_log


def test_schema_rejects_dav_inside_email_provider(schema: etree.RelaxNG) -> None:
    """The check has teeth: <calendar> inside <emailProvider> is invalid, which is why the
    template puts it next to <emailProvider>."""
    bad = etree.fromstring(
        b'<clientConfig version="1.1"><emailProvider id="x.test">'
        b'<calendar type="caldav"><url>https://x.test/</url></calendar>'
        b"</emailProvider></clientConfig>"
    )
    assert not schema.validate(bad)


def test_calendar_and_address_book_elements(knot_app: Flask) -> None:
    """example.test: one calendar and one address book, beside <emailProvider>, spelt as
    draft-ietf-mailmaint-autoconfig spells them (``addressbook``, ``basic``), with the
    SRV/TXT URL in both <url> and <serverURL> and the mail servers' login."""
    root = _document(knot_app, "example.test")
    (calendar,) = root.findall("calendar")
    (book,) = root.findall("addressbook")
    assert root.find("addressBook") is None
    assert calendar.get("type") == "caldav"
    assert book.get("type") == "carddav"
    assert calendar.findtext("url") == calendar.findtext("serverURL")
    assert calendar.findtext("url") == "https://dav.example.test/dav/cal/"
    assert book.findtext("serverURL") == "https://dav.example.test/dav/card/"
    assert calendar.findtext("authentication") == book.findtext("authentication") == "basic"
    # example.test has an alias and the default alias_login: the primary's address.
    incoming = root.findtext("emailProvider/incomingServer/username")
    assert book.findtext("username") == incoming == "%EMAILLOCALPART%@example.test"
    assert root.find("emailProvider/calendar") is None


def test_schema_checks_the_address_book_section(schema: etree.RelaxNG) -> None:
    """The draft's schema knows <addressbook> (it checks its children, a port must be a
    number) while the old wiki spelling <addressBook> is an unknown, unchecked element: the
    spelling the template uses is the one the schema validates."""
    section = '<{tag} type="carddav"><port>none</port></{tag}>'
    for tag, valid in (("addressbook", False), ("addressBook", True)):
        document = etree.fromstring(
            f'<clientConfig version="1.1">{section.format(tag=tag)}</clientConfig>'.encode()
        )
        assert schema.validate(document) is valid, tag


@pytest.mark.parametrize("domain", ["weights.example.test", "pop.example.test"])
def test_no_dav_elements_without_records(knot_app: Flask, domain: str) -> None:
    """A domain without DAV records gets neither element."""
    root = _document(knot_app, domain)
    assert root.find("calendar") is None
    assert root.find("addressbook") is None


@pytest.mark.parametrize(
    ("domain", "service", "tag", "key"),
    [
        ("example.test", "caldav", "calendar", "CalDAVPrincipalURL"),
        ("example.test", "carddav", "addressbook", "CardDAVPrincipalURL"),
        ("alias.test", "caldav", "calendar", "CalDAVPrincipalURL"),
        ("davport.example.test", "caldav", "calendar", "CalDAVPrincipalURL"),
        ("davport.example.test", "carddav", "addressbook", "CardDAVPrincipalURL"),
        ("davbad.example.test", "caldav", "calendar", "CalDAVPrincipalURL"),
    ],
)
def test_one_dav_url_everywhere(
    knot_app: Flask,
    running_knot: Knot,
    tmp_path: Path,
    domain: str,
    service: str,
    tag: str,
    key: str,
) -> None:
    """The well-known redirect, the Thunderbird document, the Apple profile, the POX
    2006a answer and ``mail-autoconf check`` all name the same URL, from the same records."""
    client = knot_app.test_client()
    location = client.get(f"/.well-known/{service}", headers={"Host": domain}).headers["Location"]
    thunderbird = _document(knot_app, domain).findtext(f"{tag}/url")
    profile = plistlib.loads(client.get(f"/mobileconfig?emailaddress=u@{domain}").data)
    apple = [p[key] for p in profile["PayloadContent"] if key in p]
    check = _check_urls(running_knot, tmp_path, domain)
    pox = _pox_urls(knot_app, "example.test" if domain == "alias.test" else domain, service)
    assert [location] == [thunderbird] == apple == check[service] == pox


def _pox_urls(app: Flask, domain: str, service: str) -> list[str]:
    """``Server`` of the CalDAV/CardDAV Protocol blocks in the POX 2006a answer (eM Client).

    An alias address is redirected (redirectAddr) in POX, so the primary is asked."""
    response = app.test_client().post(POX_PATH, data=outlook_body(f"u@{domain}"), content_type=XML)
    assert response.status_code == 200
    wanted = {"caldav": "CalDAV", "carddav": "CardDAV"}[service]
    root = etree.fromstring(response.data)
    return [
        block.findtext(f"{{{OUTLOOK_NS}}}Server")
        for block in root.iter(f"{{{OUTLOOK_NS}}}Protocol")
        if block.findtext(f"{{{OUTLOOK_NS}}}Type") == wanted
    ]


def _check_urls(knot: Knot, tmp_path: Path, domain: str) -> dict[str, list[str]]:
    """DAV URLs as ``mail-autoconf check --json`` reports them, per protocol."""
    tables = [
        f'[dns]\nnameservers = ["{knot.nameserver}"]\ntimeout = 1.0',
        '[domains."example.test"]\naliases = ["alias.test"]',
    ]
    if domain not in ("example.test", "alias.test"):
        tables.append(f'[domains."{domain}"]')
    config = tmp_path / "autoconf.toml"
    config.write_text("\n".join(tables) + "\n")
    result = CliRunner().invoke(main, ["check", "--json", "--config", str(config), domain])
    report = json.loads(result.output)
    urls: dict[str, list[str]] = {"caldav": [], "carddav": []}
    for server in report["servers"]:
        if server["protocol"] in urls:
            urls[server["protocol"]].append(server["url"])
    return urls

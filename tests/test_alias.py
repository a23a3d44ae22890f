"""Alias domains across formats: every client ends up with the primary domain's settings."""

from __future__ import annotations

import plistlib
import urllib.parse
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from autoconf import create_app
from autoconf.address import Address
from autoconf.address import parse_address
from autoconf.diagnostics.clientread import Answer
from autoconf.diagnostics.clientread import read_autoconfig
from autoconf.diagnostics.clientread import read_pox_thunderbird
from tests.knot import Knot
from tests.pox import POX_PATH
from tests.pox import XML
from tests.pox import outlook_body
from tests.pox import parse
from tests.pox import texts


@pytest.mark.parametrize("query", ["?emailaddress=bob@alias.test", "?emailaddress=bob@ALIAS.test."])
def test_thunderbird_alias_gets_the_primary_document(client: FlaskClient, query: str) -> None:
    """Thunderbird has no redirect element: the alias gets the primary's document as is."""
    primary = client.get("/mail/config-v1.1.xml?emailaddress=bob@example.test")
    alias = client.get("/mail/config-v1.1.xml" + query)
    assert (primary.status_code, alias.status_code) == (200, 200)
    assert alias.data == primary.data
    assert b"<domain>alias.test</domain>" in alias.data


def test_thunderbird_alias_by_host(client: FlaskClient) -> None:
    """Without emailaddress, ``autoconfig.<alias>`` also serves the primary's document."""
    response = client.get("/mail/config-v1.1.xml", headers={"Host": "autoconfig.alias.test"})
    assert response.status_code == 200
    assert b'<emailProvider id="example.test">' in response.data


# --- one login rule in every format, over real DNS ------------------------------------------

#: Domains of the test zone, with aliases for each login rule: example.test keeps the default
#: (alias_login = "primary"), weights.example.test maps alias logins ("address"), and
#: pop.example.test logs in with the local part alone.
ALIAS_DOMAINS: dict[str, Any] = {
    "example.test": {"aliases": ["alias.test"]},
    "weights.example.test": {"aliases": ["weights-alias.test"], "alias_login": "address"},
    "pop.example.test": {"aliases": ["pop-alias.test"], "username": "%EMAILLOCALPART%"},
}

#: address -> the login the mail server must see, whichever format the client read.
LOGINS = {
    "alice@example.test": "alice@example.test",
    "alice@alias.test": "alice@example.test",
    "Bob.Smith@ALIAS.test": "Bob.Smith@example.test",
    "alice@weights.example.test": "alice@weights.example.test",
    "alice@weights-alias.test": "alice@weights-alias.test",
    "alice@pop.example.test": "alice",
    "alice@pop-alias.test": "alice",
}


@pytest.fixture(name="alias_app", scope="module")
def fixture_alias_app(knot: Knot) -> Flask:
    """The app over the real Knot, serving the three alias rules."""
    if knot.process is None:
        knot.start()
    settings = {
        "dns": {"nameservers": [knot.nameserver], "timeout": 1.0},
        "domains": ALIAS_DOMAINS,
    }
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


def _client_substitution(template: str, address: Address) -> str:
    """comm-central's AccountConfig.sys.mjs ``_replaceVariable``: each placeholder replaced
    in turn (Thunderbird for Android and Delta Chat do the same)."""
    for name, value in (
        ("%EMAILADDRESS%", str(address)),
        ("%EMAILLOCALPART%", address.local_part),
        ("%EMAILDOMAIN%", address.domain),
    ):
        template = template.replace(name, value)
    return template


def _thunderbird_logins(client: FlaskClient, address: Address) -> dict[str, str]:
    """The login of every section of the config-v1.1 document, as Thunderbird fills it."""
    query = urllib.parse.urlencode({"emailaddress": str(address)})
    response = client.get(f"/mail/config-v1.1.xml?{query}")
    assert response.status_code == 200
    reading = read_autoconfig(
        Answer(url="", status=200, content_type=response.content_type, body=response.data),
        address,
    )
    assert not reading.error, reading.error
    found = {
        f"autoconfig {s.protocol}:{s.port}": s.username
        for s in (*reading.incoming, *reading.outgoing)
    }
    root = etree.fromstring(response.data)
    for section in ("calendar", "addressbook"):
        for element in root.iterfind(section):
            found[f"autoconfig {section}"] = _client_substitution(
                element.findtext("username") or "", address
            )
    return found


def _pox_logins(client: FlaskClient, address: Address) -> dict[str, str]:
    """``LoginName`` as Thunderbird's ExchangeAutoDiscover.sys.mjs reads it: a
    redirectAddr is followed with a new request for the target address, whose answer's
    LoginName wins over the address typed."""
    asked = str(address)
    for _ in range(2):
        response = client.post(POX_PATH, data=outlook_body(asked), content_type=XML)
        assert response.status_code == 200
        redirect = texts(parse(response.data), "Account/RedirectAddr")
        if not redirect:
            break
        (asked,) = redirect
    answer = Answer(url="", status=200, content_type=response.content_type, body=response.data)
    reading = read_pox_thunderbird(answer, address)
    assert not reading.error, reading.error
    return {f"POX {s.protocol}": s.username for s in (*reading.incoming, *reading.outgoing)}


def _apple_logins(client: FlaskClient, address: Address) -> dict[str, str]:
    """Every ``*Username`` key of the Apple profile (mail, CalDAV, CardDAV payloads)."""
    query = urllib.parse.urlencode({"emailaddress": str(address)})
    response = client.get(f"/mobileconfig?{query}")
    assert response.status_code == 200
    profile = plistlib.loads(response.data)
    return {
        f"Apple {key}": value
        for payload in profile["PayloadContent"]
        for key, value in payload.items()
        if key.endswith("Username")
    }


@pytest.mark.parametrize(("typed", "login"), LOGINS.items())
def test_one_login_in_every_format(alias_app: Flask, typed: str, login: str) -> None:
    """Whatever format a client reads for an address (the Thunderbird document's mail,
    calendar and address book sections, POX with its redirect followed, the Apple
    profile's mail and DAV payloads), the mail server sees the same login: the primary
    address for an alias by default, the alias itself with ``alias_login = "address"``,
    the local part with ``username = "%EMAILLOCALPART%"``."""
    client = alias_app.test_client()
    address = parse_address(typed)
    every = {
        **_thunderbird_logins(client, address),
        **_pox_logins(client, address),
        **_apple_logins(client, address),
    }
    # Every format was really read: incoming and outgoing logins of each at least.
    assert {key.split()[0] for key in every} == {"autoconfig", "POX", "Apple"}
    assert len(every) >= 7, every
    assert every == dict.fromkeys(every, login)

"""Apple configuration profiles: contents per payload key, identity, escaping, errors.

Against the Knot-served test zone (``knot_app``): what the device is told comes from SRV.
"""

from __future__ import annotations

import plistlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import event
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from autoconf import create_app
from autoconf.config import load_settings
from autoconf.errors import ConfigError
from tests.conftest import config
from tests.knot import Knot

MAIL = "com.apple.mail.managed"
CALDAV = "com.apple.caldav.account"
CARDDAV = "com.apple.carddav.account"


def download(client: FlaskClient, address: str, path: str = "/mobileconfig") -> dict[str, Any]:
    """Fetch and parse the profile for ``address``; the request must succeed."""
    response = client.get(f"{path}?emailaddress={quote(address)}")
    assert response.status_code == 200, response.data
    profile: dict[str, Any] = plistlib.loads(response.data)
    return profile


def payload(profile: dict[str, Any], kind: str) -> dict[str, Any]:
    """The one payload of type ``kind``."""
    (found,) = [p for p in profile["PayloadContent"] if p["PayloadType"] == kind]
    return found


@pytest.fixture(name="client")
def fixture_client(knot_app: Flask) -> FlaskClient:
    """A test client answering from live DNS (Knot)."""
    return knot_app.test_client()


def test_top_level_keys(client: FlaskClient) -> None:
    """The required top-level keys (TopLevel.yaml), naming the provider and the address."""
    profile = download(client, "alice@example.test")
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadVersion"] == 1
    assert profile["PayloadDisplayName"] == "Example Test Mail (alice@example.test)"
    assert profile["PayloadOrganization"] == "Example Test Mail"
    assert profile["PayloadIdentifier"].startswith("test.example.autoconf.")
    assert [p["PayloadType"] for p in profile["PayloadContent"]] == [MAIL, CALDAV, CARDDAV]
    for item in profile["PayloadContent"]:
        assert item["PayloadVersion"] == 1
        assert item["PayloadIdentifier"].startswith(profile["PayloadIdentifier"] + ".")


def test_mail_payload_from_srv(client: FlaskClient) -> None:
    """example.test: IMAP over implicit TLS on 993, submissions on 465, from SRV."""
    mail = payload(download(client, "alice@example.test"), MAIL)
    assert {k: v for k, v in mail.items() if not k.startswith("Payload")} == {
        "EmailAccountDescription": "Example Test Mail",
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAddress": "alice@example.test",
        "IncomingMailServerHostName": "mail.example.test",
        "IncomingMailServerPortNumber": 993,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerUsername": "alice@example.test",
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerHostName": "mail.example.test",
        "OutgoingMailServerPortNumber": 465,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerUsername": "alice@example.test",
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingPasswordSameAsIncomingPassword": True,
    }


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        # POP3 has the better priority, but the profile's one account is IMAP; the
        # domain's username template is %EMAILLOCALPART%.
        (
            "bob@pop.example.test",
            {
                "EmailAccountType": "EmailTypeIMAP",
                "IncomingMailServerHostName": "mail.pop.example.test",
                "IncomingMailServerPortNumber": 993,
                "IncomingMailServerUsername": "bob",
                "OutgoingMailServerUsername": "bob",
            },
        ),
        # Only POP3 offered: a POP account.
        (
            "bob@poponly.example.test",
            {
                "EmailAccountType": "EmailTypePOP",
                "IncomingMailServerPortNumber": 995,
                "IncomingMailServerUsername": "bob",
            },
        ),
        # STARTTLS has the better priority, yet implicit TLS is chosen: Apple Mail cannot
        # be told to require STARTTLS.
        (
            "bob@tlspref.example.test",
            {
                "IncomingMailServerPortNumber": 993,
                "IncomingMailServerUseSSL": True,
                "OutgoingMailServerPortNumber": 465,
                "OutgoingMailServerUseSSL": True,
            },
        ),
        # STARTTLS only: UseSSL is still true (TLS required, upgraded on 143/587);
        # password-encrypted becomes CRAM-MD5.
        (
            "bob@starttls.example.test",
            {
                "IncomingMailServerPortNumber": 143,
                "IncomingMailServerUseSSL": True,
                "IncomingMailServerAuthentication": "EmailAuthCRAMMD5",
                "OutgoingMailServerPortNumber": 587,
                "OutgoingMailServerUseSSL": True,
                "OutgoingMailServerAuthentication": "EmailAuthCRAMMD5",
            },
        ),
        # A trusted out-of-domain hoster.
        (
            "bob@hosted.example.test",
            {
                "IncomingMailServerHostName": "imap.provider.test",
                "OutgoingMailServerHostName": "smtp.provider.test",
                "OutgoingMailServerPortNumber": 587,
            },
        ),
        # An IDN domain: the address and file name use the A-label.
        (
            "bob@stra\u00dfe.example.test",
            {
                "EmailAddress": "bob@xn--strae-oqa.example.test",
                "IncomingMailServerHostName": "mail.xn--strae-oqa.example.test",
            },
        ),
    ],
)
def test_mail_payload_choices(client: FlaskClient, address: str, expected: dict[str, Any]) -> None:
    """Protocol, server, TLS flag, authentication and login per scenario."""
    mail = payload(download(client, address), MAIL)
    assert {key: mail[key] for key in expected} == expected


def test_dav_payloads_from_srv_and_txt(client: FlaskClient) -> None:
    """example.test publishes _caldavs/_carddavs with TXT paths: both payloads, no password."""
    profile = download(client, "alice@example.test")
    caldav, carddav = payload(profile, CALDAV), payload(profile, CARDDAV)
    assert {k: v for k, v in caldav.items() if not k.startswith("Payload")} == {
        "CalDAVAccountDescription": "Example Test Mail",
        "CalDAVHostName": "dav.example.test",
        "CalDAVPort": 443,
        "CalDAVPrincipalURL": "https://dav.example.test/dav/cal/",
        "CalDAVUseSSL": True,
        "CalDAVUsername": "alice@example.test",
    }
    assert carddav["CardDAVPrincipalURL"] == "https://dav.example.test/dav/card/"
    assert carddav["CardDAVUsername"] == "alice@example.test"


def test_dav_port_and_missing_path(client: FlaskClient) -> None:
    """A non-default port goes to the Port key and the URL; no TXT path: well-known URL."""
    profile = download(client, "alice@davport.example.test")
    assert payload(profile, CALDAV)["CalDAVPort"] == 8443
    assert payload(profile, CARDDAV)["CardDAVPrincipalURL"] == (
        "https://dav.davport.example.test:8443/.well-known/carddav"
    )


@pytest.mark.parametrize("domain", ["weights.example.test", "pop.example.test"])
def test_no_dav_payloads_without_records(client: FlaskClient, domain: str) -> None:
    """A domain without DAV records gets the mail payload only."""
    profile = download(client, f"alice@{domain}")
    assert [p["PayloadType"] for p in profile["PayloadContent"]] == [MAIL]


def test_never_a_password(client: FlaskClient) -> None:
    """No password key anywhere, even when the request (wrongly) carries one."""
    response = client.get("/mobileconfig?emailaddress=alice@example.test&password=hunter2")
    assert b"hunter2" not in response.data
    profile = plistlib.loads(response.data)
    keys = {key for item in (profile, *profile["PayloadContent"]) for key in item}
    assert {key for key in keys if "Password" in key} == {"OutgoingPasswordSameAsIncomingPassword"}


def test_identity_is_deterministic(client: FlaskClient) -> None:
    """Re-downloading gives identical identifiers and UUIDs (the device replaces the
    profile); another address gets other ones; both URLs serve the same profile."""
    first = download(client, "alice@example.test")
    again = download(client, "alice@example.test", path="/email.mobileconfig")
    other = download(client, "bob@example.test")

    def ids(profile: dict[str, Any]) -> list[tuple[str, str]]:
        items = [profile, *profile["PayloadContent"]]
        return [(p["PayloadIdentifier"], p["PayloadUUID"]) for p in items]

    assert ids(first) == ids(again)
    assert first == again
    assert not set(ids(first)) & set(ids(other))
    uuids = [uuid for _, uuid in ids(first)]
    assert len(set(uuids)) == len(uuids)


def test_alias_address(client: FlaskClient) -> None:
    """At an alias domain: the account is the alias address, the servers the primary's,
    the login the primary address (alias_login = "primary", as POX and autoconfig)."""
    response = client.get("/mobileconfig?emailaddress=carol@alias.test")
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="alias.test.mobileconfig"'
    )
    profile = plistlib.loads(response.data)
    mail = payload(profile, MAIL)
    assert mail["EmailAddress"] == "carol@alias.test"
    assert mail["IncomingMailServerUsername"] == "carol@example.test"
    assert mail["OutgoingMailServerUsername"] == "carol@example.test"
    assert mail["IncomingMailServerHostName"] == "mail.example.test"
    assert payload(profile, CALDAV)["CalDAVPrincipalURL"] == "https://dav.example.test/dav/cal/"
    assert profile != download(client, "carol@example.test")


def test_serving_headers(client: FlaskClient) -> None:
    """The profile MIME type, an attachment named after the domain, and no caching."""
    response = client.get("/email.mobileconfig?EmailAddress=alice@example.test")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-apple-aspen-config"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="example.test.mobileconfig"'
    )
    assert response.headers["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize(
    "address",
    [
        '"a<&\'>b"@example.test',
        "us&er'x@example.test",
        "j\u00f6rg@example.test",
        '"x\\"</string><key>IncomingPassword</key>"@example.test',
    ],
)
def test_hostile_addresses_round_trip(client: FlaskClient, address: str) -> None:
    """Markup characters and non-ASCII local parts come back exactly as text; the file name
    holds only the ASCII domain."""
    response = client.get(f"/mobileconfig?emailaddress={quote(address)}")
    assert response.status_code == 200
    profile = plistlib.loads(response.data)
    mail = payload(profile, MAIL)
    assert mail["EmailAddress"] == address
    assert mail["IncomingMailServerUsername"] == address
    assert "IncomingPassword" not in mail
    assert profile["PayloadDisplayName"] == f"Example Test Mail ({address})"
    disposition = response.headers["Content-Disposition"]
    assert disposition == 'attachment; filename="example.test.mobileconfig"'
    assert disposition.isascii()


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Alice Example", "Alice Example"),
        ("  J\u00f6rg   M\u00fcller ", "J\u00f6rg M\u00fcller"),
        # Markup is kept as text (plistlib escapes it); line breaks and NUL are dropped.
        ("Eve <eve@evil.test>\r\nBcc: x", "Eve <eve@evil.test>Bcc: x"),
        ("a\x00b</string><key>IncomingPassword</key>", "ab</string><key>IncomingPassword</key>"),
        # A right-to-left override would make the name read as something else.
        ("\u202etset", "tset"),
        # Joiners some scripts need stay.
        (
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        ),
        ("x" * 200, "x" * 64),
    ],
)
def test_sender_name_from_the_query(client: FlaskClient, name: str, shown: str) -> None:
    """``?name=`` becomes EmailAccountName (com.apple.mail.managed: the name shown in
    sent mail), cleaned and at most 64 characters; the profile's identity and the file
    name do not change with it."""
    response = client.get(
        "/mobileconfig", query_string={"emailaddress": "a@example.test", "name": name}
    )
    assert response.status_code == 200
    profile = plistlib.loads(response.data)
    mail = payload(profile, MAIL)
    assert mail["EmailAccountName"] == shown
    assert "IncomingPassword" not in mail
    plain = download(client, "a@example.test")
    assert "EmailAccountName" not in payload(plain, MAIL)
    assert profile["PayloadIdentifier"] == plain["PayloadIdentifier"]
    assert (
        response.headers["Content-Disposition"]
        == 'attachment; filename="example.test.mobileconfig"'
    )


@pytest.mark.parametrize("name", ["", "   ", "\r\n\x00", "\u202e"])
def test_empty_sender_name_is_left_out(client: FlaskClient, name: str) -> None:
    """A name that cleans up to nothing is no name: the key is left out."""
    response = client.get(
        "/mobileconfig", query_string={"emailaddress": "a@example.test", "NAME": name}
    )
    assert response.status_code == 200
    assert "EmailAccountName" not in payload(plistlib.loads(response.data), MAIL)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 400),
        ("?emailaddress=", 400),
        ("?emailaddress=not-an-address", 400),
        ("?emailaddress=a@[127.0.0.1]", 400),
        ("?emailaddress=alice@unknown.example", 404),
        # Served, but DNS offers no usable mail server.
        ("?emailaddress=alice@none.example.test", 404),
        ("?emailaddress=alice@davonly.example.test", 404),
        # Out-of-domain targets are dropped: nothing usable is left.
        ("?emailaddress=alice@evil.example.test", 404),
    ],
)
def test_errors(client: FlaskClient, query: str, status: int) -> None:
    """No address: 400; unknown domain or no settings: 404; never a profile, never 401."""
    response = client.get(f"/mobileconfig{query}")
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/plain")
    assert "WWW-Authenticate" not in response.headers
    assert "Content-Disposition" not in response.headers


def test_dns_failure_is_503(client: FlaskClient) -> None:
    """SERVFAIL: 503 with Retry-After, not a 404."""
    response = client.get("/mobileconfig?emailaddress=alice@broken.test")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0


def test_dns_down_is_503(running_knot: Knot) -> None:
    """No DNS server answering at all: 503 with Retry-After as well."""
    app = create_app(config(nameservers=[running_knot.nameserver], timeout=0.5))
    running_knot.stop()
    try:
        response = app.test_client().get("/mobileconfig?emailaddress=alice@example.test")
    finally:
        running_knot.start()
    assert response.status_code == 503
    assert "Retry-After" in response.headers


def test_operator_naming(running_knot: Knot, client: FlaskClient) -> None:
    """``[mobileconfig] organization`` and ``identifier_prefix`` replace the defaults; the
    UUIDs follow the identifier, so a new prefix means a new profile on the device."""
    app = create_app(
        {
            **config(nameservers=[running_knot.nameserver], timeout=1.0),
            "mobileconfig": {"organization": "Example Corp", "identifier_prefix": "com.corp"},
        }
    )
    profile = download(app.test_client(), "alice@example.test")
    assert profile["PayloadOrganization"] == "Example Corp"
    assert profile["PayloadIdentifier"].startswith("com.corp.")
    default = download(client, "alice@example.test")
    assert default["PayloadIdentifier"].startswith("test.example.autoconf.")
    suffix = default["PayloadIdentifier"].removeprefix("test.example.autoconf")
    assert profile["PayloadIdentifier"] == "com.corp" + suffix
    assert default["PayloadUUID"] != profile["PayloadUUID"]


def test_address_and_password_never_logged(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the address, the sender name nor a password in the query string reaches
    the log, on success or on error."""
    caplog.set_level("DEBUG")
    client.get("/mobileconfig?emailaddress=secret.user@example.test&password=hunter2")
    client.get("/mobileconfig?emailaddress=a@example.test&name=Secret%20Name")
    client.get("/mobileconfig?emailaddress=secret.user@unknown.example&password=hunter2")
    client.get("/mobileconfig?password=hunter2")
    assert caplog.records, "the error paths log something"
    assert "hunter2" not in caplog.text
    assert "secret.user" not in caplog.text
    assert "Secret Name" not in caplog.text


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.one_of(
        st.text(max_size=300),
        # Mostly-valid addresses at served domains, with hostile local parts.
        st.builds(
            "{}@{}".format,
            st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=70),
            st.sampled_from(["example.test", "alias.test", "Stra\u00dfe.example.test."]),
        ),
        st.builds('"{}"@example.test'.format, st.text(max_size=40)),
    )
)
def test_any_address_text_is_answered_without_5xx(offline_client: FlaskClient, text: str) -> None:
    """Whatever the emailaddress parameter holds, the answer is a profile or a 4xx; a
    profile always round-trips the normalised address and names the file by A-label."""
    response = offline_client.get("/mobileconfig", query_string={"emailaddress": text})
    assert response.status_code in (200, 400, 404)
    event(f"HTTP {response.status_code}")
    if response.status_code == 200:
        mail = payload(plistlib.loads(response.data), MAIL)
        local, _, domain = mail["EmailAddress"].rpartition("@")
        assert local
        disposition = response.headers["Content-Disposition"]
        assert disposition == f'attachment; filename="{domain}.mobileconfig"'
        assert disposition.isascii()


@pytest.fixture(name="offline_client")
def fixture_offline_client(app: Flask) -> FlaskClient:
    """The zone-file app (no network): fast enough for property tests."""
    return app.test_client()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTOCONF_DOMAINS__example.test__DISPLAY_NAME", "Mail\udcff"),
        ("AUTOCONF_MOBILECONFIG__ORGANIZATION", "Corp\udcff"),
        ("AUTOCONF_MOBILECONFIG__ORGANIZATION", "Corp\x1b[31m"),
    ],
)
def test_unwritable_names_refused_at_start_up(tmp_path: Path, name: str, value: str) -> None:
    """Undecodable bytes from the environment or control characters in a name shown in the
    profile stop start-up, instead of making every profile request fail."""
    config_file = tmp_path / "autoconf.toml"
    config_file.write_text('[domains."example.test"]\n')
    with pytest.raises(ConfigError, match="control characters"):
        load_settings(config_file, environ={name: value})


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(max_size=300))
def test_any_sender_name_gives_a_valid_profile(offline_client: FlaskClient, name: str) -> None:
    """Whatever ``name`` holds (controls, surrogates, U+FFFF, markup), the answer is a
    property list that parses, and its sender name is at most 64 printable characters."""
    response = offline_client.get(
        "/mobileconfig", query_string={"emailaddress": "a@example.test", "name": name}
    )
    assert response.status_code == 200
    mail = payload(plistlib.loads(response.data), MAIL)
    shown = mail.get("EmailAccountName", "")
    assert len(shown) <= 64
    assert shown == shown.strip()
    assert all(c.isprintable() or c in "\u200c\u200d" for c in shown)

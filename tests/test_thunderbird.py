"""Thunderbird autoconfig over HTTP: the document clients parse, and every refusal."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from lxml import etree

from tests.conftest import published_schema

PATHS = ["/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"]
SOCKET_TYPES = {"SSL", "STARTTLS"}  # exact, case-sensitive; never "plain" from SRV
AUTHS = {"password-cleartext", "password-encrypted"}


def fetch(
    client: FlaskClient, query: str = "", host: str = "localhost", path: str = PATHS[0]
) -> tuple[int, str, etree._Element | None, bytes]:
    response = client.get(path + query, headers={"Host": host})
    root = etree.fromstring(response.data) if response.status_code == 200 else None
    return response.status_code, response.content_type, root, response.data


def servers(root: etree._Element, kind: str) -> list[tuple[str, str, int, str]]:
    return [
        (s.get("type"), s.findtext("hostname"), int(s.findtext("port")), s.findtext("socketType"))
        for s in root.iter(kind)
    ]


def assert_thunderbird_rules(root: etree._Element) -> None:
    """The rules of readFromXML.sys.mjs and Thunderbird for Android's RealAutoconfigParser.kt."""
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    (provider,) = root.findall("emailProvider")
    assert "%" not in provider.get("id") and "_" not in provider.get("id")
    domains = [d.text for d in provider.findall("domain")]
    assert domains and all(d and "%" not in d for d in domains)
    for server in (*provider.findall("incomingServer"), *provider.findall("outgoingServer")):
        assert server.findtext("hostname")
        assert 1 <= int(server.findtext("port")) <= 65535
        assert server.findtext("socketType") in SOCKET_TYPES
        assert server.findtext("authentication") in AUTHS
        # The login template (autoconf.logins): "%EMAILLOCALPART%@<primary>" on a domain
        # with aliases, whose addresses log in at the primary domain.
        primary = f"%EMAILLOCALPART%@{provider.get('id')}"
        assert server.findtext("username") in {"%EMAILADDRESS%", "%EMAILLOCALPART%", primary}
        for child in server:  # no padding: Thunderbird does not trim
            assert child.text == child.text.strip()
    assert provider.find("incomingServer") is not None
    assert provider.find("outgoingServer[@type='smtp']") is not None


@pytest.mark.parametrize("path", PATHS)
def test_document_for_address(client: FlaskClient, path: str) -> None:
    """The SRV records of example.test become the document, in SRV order."""
    status, content_type, root, body = fetch(client, "?emailaddress=alice@example.test", path=path)
    assert status == 200
    assert content_type == "text/xml; charset=utf-8"
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert root is not None
    assert_thunderbird_rules(root)
    provider = root.find("emailProvider")
    assert provider.get("id") == "example.test"
    assert [d.text for d in provider.findall("domain")] == ["example.test", "alias.test"]
    assert provider.findtext("displayName") == "Example Test Mail"
    assert servers(root, "incomingServer") == [
        ("imap", "mail.example.test", 993, "SSL"),
        ("pop3", "pop.example.test", 995, "SSL"),
    ]
    assert servers(root, "outgoingServer") == [
        ("smtp", "mail.example.test", 465, "SSL"),
        ("smtp", "mail.example.test", 587, "STARTTLS"),
    ]
    # alias.test addresses log in as the primary address (alias_login = "primary").
    usernames = {s.findtext("username") for s in root.iter("incomingServer", "outgoingServer")}
    assert usernames == {"%EMAILLOCALPART%@example.test"}


@pytest.mark.parametrize(
    ("query", "host"),
    [
        ("", "autoconfig.example.test"),
        ("", "example.test"),
        ("", "AUTOCONFIG.Example.Test"),
        ("", "autoconfig.example.test:8443"),
        ("", "autodiscover.example.test"),
        ("?emailaddress=", "autoconfig.example.test"),
        ("?emailaddress=EVOLUTIONUSER%40example.test&emailmd5=abc", "localhost"),
        ("?emailaddress=%20Alice%40EXAMPLE.TEST.%20", "localhost"),
        ("?emailaddress=bob%40alias.test", "localhost"),
    ],
)
def test_domain_from_host_or_address(client: FlaskClient, query: str, host: str) -> None:
    """Without emailaddress the Host header names the domain; aliases get the primary's."""
    status, _, root, _ = fetch(client, query, host=host)
    assert status == 200
    assert root is not None and root.find("emailProvider").get("id") == "example.test"


def test_same_document_for_any_local_part(client: FlaskClient) -> None:
    """No enumeration, and nothing of the address in the document: placeholders only."""
    bodies = {
        client.get(PATHS[0], query_string={"emailaddress": f"{local}@example.test"}).data
        for local in ("alice", "nobody-here", "x.y+z")
    }
    assert len(bodies) == 1
    assert b"alice" not in bodies.pop()


@pytest.mark.parametrize(
    ("domain", "incoming", "outgoing"),
    [
        (
            "weights.example.test",
            [
                ("imap", "heavy.weights.example.test", 993, "SSL"),
                ("imap", "light.weights.example.test", 993, "SSL"),
                ("imap", "starttls.weights.example.test", 143, "STARTTLS"),
            ],
            [
                ("smtp", "smtp.weights.example.test", 587, "STARTTLS"),
                ("smtp", "smtp.weights.example.test", 465, "SSL"),
            ],
        ),
        (
            "pop.example.test",
            [
                ("pop3", "mail.pop.example.test", 995, "SSL"),
                ("imap", "mail.pop.example.test", 993, "SSL"),
            ],
            [("smtp", "mail.pop.example.test", 465, "SSL")],
        ),
        (
            "hosted.example.test",
            [("imap", "imap.provider.test", 993, "SSL")],
            [("smtp", "smtp.provider.test", 587, "STARTTLS")],
        ),
        (
            "xn--strae-oqa.example.test",
            [("imap", "mail.xn--strae-oqa.example.test", 993, "SSL")],
            [("smtp", "mail.xn--strae-oqa.example.test", 465, "SSL")],
        ),
    ],
)
def test_scenarios(
    client: FlaskClient, domain: str, incoming: list[object], outgoing: list[object]
) -> None:
    """Priorities, weights, protocol preference and trusted suffixes reach the document."""
    status, _, root, _ = fetch(client, f"?emailaddress=a@{domain}")
    assert status == 200 and root is not None
    assert_thunderbird_rules(root)
    assert servers(root, "incomingServer") == incoming
    assert servers(root, "outgoingServer") == outgoing


def test_idn_address_in_unicode(client: FlaskClient) -> None:
    """A U-label address reaches the A-label domain (IDNA 2008: ß stays ß)."""
    status, _, root, _ = fetch(client, "?emailaddress=a@stra%C3%9Fe.example.test")
    assert status == 200 and root is not None
    assert root.find("emailProvider").get("id") == "xn--strae-oqa.example.test"


def test_username_and_authentication_from_config(client: FlaskClient) -> None:
    """The domain's username template and authentication appear on every server."""
    _, _, root, _ = fetch(client, "?emailaddress=a@pop.example.test")
    assert root is not None
    assert {u.text for u in root.iter("username")} == {"%EMAILLOCALPART%"}
    _, _, root, _ = fetch(client, "?emailaddress=a@starttls.example.test")
    assert root is not None
    assert {a.text for a in root.iter("authentication")} == {"password-encrypted"}


@pytest.mark.parametrize(
    "query",
    [
        "?emailaddress=a@unknown.test",
        "?emailaddress=a@evil.example.test",
        "?emailaddress=a@none.example.test",
        "?emailaddress=a@sub.example.test",
    ],
)
def test_404_without_body(client: FlaskClient, query: str) -> None:
    """Unknown domain, or nothing usable (untrusted or '.' targets): 404, empty body."""
    response = client.get(PATHS[0] + query)
    assert response.status_code == 404
    assert response.data == b""


def test_loopback_host_without_address_is_404(client: FlaskClient) -> None:
    """A trusted Host that is no served domain (loopback) gets the same bare 404."""
    for host in ("127.0.0.1:8000", "localhost", "[::1]:8000"):
        response = client.get(PATHS[0], headers={"Host": host})
        assert (response.status_code, response.data) == (404, b"")


@pytest.mark.parametrize(
    "value",
    [
        "<script>",
        "a@b@c",
        "alice@[127.0.0.1]",
        "x" * 3000,
        "a@exa mple.test",
        "\x00@example.test",
        "alice@example.test\r\nX-Injected: 1",
    ],
)
def test_bad_address_is_400(client: FlaskClient, value: str) -> None:
    """A malformed address is a short 400, never a 500 and never an echo."""
    response = client.get(PATHS[0], query_string={"emailaddress": value})
    assert response.status_code == 400
    assert value.encode() not in response.data
    assert b"Traceback" not in response.data


def test_never_401_even_with_credentials(client: FlaskClient) -> None:
    """Credentials are ignored: no 401, no WWW-Authenticate."""
    response = client.get(
        PATHS[0] + "?emailaddress=a@example.test",
        headers={"Authorization": "Basic YWxpY2U6c2VjcmV0"},
    )
    assert response.status_code == 200
    assert "WWW-Authenticate" not in response.headers


def test_cache_control_follows_dns_ttl(client: FlaskClient) -> None:
    """Address-free documents are publicly cacheable for no longer than the DNS data (a
    60 s negative TTL for example.test; the remaining lifetime is rounded down)."""
    response = client.get(
        PATHS[0] + "?emailaddress=a@example.test", headers={"Host": "autoconfig.example.test"}
    )
    assert response.headers["Cache-Control"] in {"public, max-age=60", "public, max-age=59"}


def test_valid_against_autoconfig_relax_ng(client: FlaskClient) -> None:
    """Every served test domain's answer validates against the IETF draft's RELAX NG."""
    schema_file = published_schema("draft-ietf-mailmaint-autoconfig.autoconfig.rng")
    schema = etree.RelaxNG(etree.parse(str(schema_file)))
    for domain in (
        "example.test",
        "weights.example.test",
        "pop.example.test",
        "hosted.example.test",
    ):
        status, _, root, _ = fetch(client, f"?emailaddress=a@{domain}")
        assert status == 200 and root is not None
        assert schema.validate(root), schema.error_log


def test_over_knot(knot_app: object) -> None:
    """The same document comes out when the records come from live DNS (Knot)."""
    from flask import Flask

    assert isinstance(knot_app, Flask)
    status, _, root, _ = fetch(knot_app.test_client(), "?emailaddress=a@weights.example.test")
    assert status == 200 and root is not None
    assert [s[1] for s in servers(root, "incomingServer")] == [
        "heavy.weights.example.test",
        "light.weights.example.test",
        "starttls.weights.example.test",
    ]


def test_dns_failure_is_503_with_retry_after(knot_app: object) -> None:
    """SERVFAIL (broken.test) is 'temporarily failed': 503 + Retry-After, not a 404."""
    from flask import Flask

    assert isinstance(knot_app, Flask)
    response = knot_app.test_client().get(PATHS[0] + "?emailaddress=a@broken.test")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0

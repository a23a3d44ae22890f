"""Outlook POX Autodiscover (2006a) and ActiveSync (mobilesync) over HTTP, from the test zone.

Every answer is re-parsed with lxml and checked against the element rules of [MS-OXDSCLI]
2.2.4 and [MS-ASCMD] 2.2.1.1; mobilesync and Error answers are also validated against the
published [MS-ASCMD] schemas.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from werkzeug.test import TestResponse

from autoconf import create_app
from autoconf.dns_source import ZoneSource
from autoconf.model import Question
from autoconf.model import RRset
from tests.conftest import ZONE_FILE
from tests.conftest import config
from tests.conftest import published_schema
from tests.pox import BASE_NS
from tests.pox import MOBILESYNC_NS
from tests.pox import MOBILESYNC_REQUEST_NS
from tests.pox import OUTLOOK_NS
from tests.pox import OUTLOOK_REQUEST_NS
from tests.pox import POX_PATH
from tests.pox import XML
from tests.pox import activesync_body
from tests.pox import em_client_body
from tests.pox import error_of
from tests.pox import outlook_body
from tests.pox import parse
from tests.pox import texts
from tests.pox import thunderbird_body

ALICE = "alice@example.test"
ON_OFF = ("DomainRequired", "SPA", "SSL", "AuthRequired", "UsePOPAuth", "SMTPLast")
#: [MS-OXDSCLI] 2.2.4.1.1.2.10 (SSL, Encryption) pairs, as formats/autodiscover.py maps them.
SSL_ENCRYPTION = {("on", "SSL"), ("on", "TLS"), ("off", "None")}
EXAMPLE_TEST_BLOCKS = [
    ("IMAP", "mail.example.test", "993"),
    ("POP3", "pop.example.test", "995"),
    ("SMTP", "mail.example.test", "465"),
    ("CalDAV", "https://dav.example.test/dav/cal/", "443"),
    ("CardDAV", "https://dav.example.test/dav/card/", "443"),
]


def post(client: FlaskClient, body: bytes, **kwargs: Any) -> TestResponse:
    """POST an Autodiscover body the way clients do (text/xml; charset=utf-8)."""
    kwargs.setdefault("content_type", XML)
    return client.post(POX_PATH, data=body, **kwargs)


def protocols(root: etree._Element) -> list[dict[str, str]]:
    """Every 2006a ``Protocol`` block as {local name: text}."""
    return [
        {etree.QName(child).localname: child.text or "" for child in block}
        for block in root.iter(f"{{{OUTLOOK_NS}}}Protocol")
    ]


def assert_outlook_rules(root: etree._Element, *, login: str | None) -> None:
    """The [MS-OXDSCLI] 2.2.4 rules every 2006a settings answer must follow (no prefixes:
    Thunderbird's ExchangeAutoDiscover.sys.mjs reads unprefixed names only)."""
    assert root.tag == f"{{{BASE_NS}}}Autodiscover"
    assert [child.tag for child in root] == [f"{{{OUTLOOK_NS}}}Response"]
    assert all(element.prefix is None for element in root.iter()), "prefixed element"
    assert texts(root, "Account/AccountType") == ["email"]
    assert texts(root, "Account/Action") == ["settings"]
    assert len(texts(root, "User/DisplayName")) == 1
    blocks = protocols(root)
    assert blocks, "no Protocol block"
    for block in blocks:
        assert block["Port"].isdigit()
        assert all(block[key] in ("on", "off") for key in ON_OFF if key in block)
        assert (block["SPA"], block["AuthRequired"], block["DomainRequired"]) == (
            "off",
            "on",
            "off",
        )
        assert block.get("LoginName") == login
        if block["Type"] in ("IMAP", "POP3", "SMTP"):
            assert (block["SSL"], block["Encryption"]) in SSL_ENCRYPTION
        if block["Type"] == "SMTP":
            # UsePOPAuth on: SMTP reuses the incoming login (Microsoft's UsePOPAuth (POX)).
            assert (block["UsePOPAuth"], block["SMTPLast"]) == ("on", "off")


def schema(name: str) -> etree.XMLSchema:
    """One of the published [MS-ASCMD] schemas (tests/conftest.py ``published_schema``)."""
    return etree.XMLSchema(etree.parse(str(published_schema(name))))


# --- requests as real clients send them -------------------------------------------------


CLIENTS: dict[str, Callable[[str], bytes]] = {
    "outlook": outlook_body,
    "thunderbird": thunderbird_body,
    "em-client": em_client_body,
}


@pytest.mark.parametrize("client_name", CLIENTS)
def test_client_request_gets_2006a_settings(client: FlaskClient, client_name: str) -> None:
    """Outlook, Thunderbird and eM Client bodies get every service in SRV order, per user."""
    response = post(client, CLIENTS[client_name](ALICE))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == XML
    assert response.headers["Cache-Control"] == "private, no-store"
    root = parse(response.data)
    assert_outlook_rules(root, login=ALICE)
    assert [(b["Type"], b["Server"], b["Port"]) for b in protocols(root)] == EXAMPLE_TEST_BLOCKS
    assert texts(root, "User/AutoDiscoverSMTPAddress") == [ALICE]


def test_exchangelib_payload_is_answered(client: FlaskClient) -> None:
    """exchangelib 4.9's own request bytes (the last POX client library) get settings."""
    properties = pytest.importorskip(
        "exchangelib.autodiscover.properties", reason="exchangelib 4.9.0 is not installed"
    )
    response = post(client, properties.Autodiscover.payload(email=ALICE))
    assert response.status_code == 200
    assert_outlook_rules(parse(response.data), login=ALICE)


PATHS = [
    "/autodiscover/autodiscover.xml",
    "/Autodiscover/Autodiscover.xml",
    "/AutoDiscover/AutoDiscover.xml",
    "/AUTODISCOVER/AUTODISCOVER.XML",
    "/autoDiscover/autodiscover.XML",
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_path_casing_is_served(client: FlaskClient, path: str, method: str) -> None:
    """IIS routes case-insensitively and clients rely on it (rseichter/automx2#8)."""
    response = client.open(
        path,
        method=method,
        data=outlook_body(ALICE) if method == "POST" else None,
        content_type=XML,
        headers={"Host": "autodiscover.example.test"},
    )
    assert response.status_code == 200
    assert texts(parse(response.data), "Account/Action") == ["settings"]


@pytest.mark.parametrize("path", ["/autodiscover/autodiscover.xml/", "/autodiscover/x.xml"])
def test_other_paths_are_not_autodiscover(client: FlaskClient, path: str) -> None:
    """Only the one path (in any case) is routed; near misses are a plain 404."""
    assert post(client, outlook_body(ALICE)).status_code == 200
    assert client.post(path, data=outlook_body(ALICE), content_type=XML).status_code == 404


def test_prefixed_namespaces_are_accepted(client: FlaskClient) -> None:
    """Any prefix (and even no namespace) is read: names are matched by local name."""
    prefixed = (
        f'<a:Autodiscover xmlns:a="{OUTLOOK_REQUEST_NS}"><a:Request>'
        f"<a:EMailAddress>{ALICE}</a:EMailAddress>"
        f"<a:AcceptableResponseSchema>{OUTLOOK_NS}</a:AcceptableResponseSchema>"
        "</a:Request></a:Autodiscover>"
    ).encode()
    bare = prefixed.replace(b"a:", b"").replace(f' xmlns="{OUTLOOK_REQUEST_NS}"'.encode(), b"")
    for body in (prefixed, bare):
        response = post(client, body)
        assert response.status_code == 200
        assert_outlook_rules(parse(response.data), login=ALICE)


# --- settings mapping ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        # Implicit TLS everywhere: SSL on + Encryption SSL.
        ("example.test", [("IMAP", "993", "on", "SSL"), ("SMTP", "465", "on", "SSL")]),
        # STARTTLS: SSL stays on (Thunderbird and Delta Chat read "off" as plaintext).
        ("starttls.example.test", [("IMAP", "143", "on", "TLS"), ("SMTP", "587", "on", "TLS")]),
        # POP3 preferred by priority, so it comes first.
        ("pop.example.test", [("POP3", "995", "on", "SSL"), ("IMAP", "993", "on", "SSL")]),
    ],
)
def test_security_maps_to_ssl_and_encryption(
    client: FlaskClient, domain: str, expected: Sequence[tuple[str, str, str, str]]
) -> None:
    """SRV security -> SSL/Encryption ([MS-OXDSCLI] 2.2.4.1.1.2.10), in SRV preference order."""
    root = parse(post(client, outlook_body(f"bob@{domain}")).data)
    found = [(b["Type"], b["Port"], b["SSL"], b.get("Encryption")) for b in protocols(root)]
    assert [f for f in found if f[0] in {e[0] for e in expected}] == list(expected)


@pytest.mark.parametrize(
    ("address", "login"),
    [
        ("bob@example.test", "bob@example.test"),  # username = %EMAILADDRESS%
        ("bob@pop.example.test", "bob"),  # username = %EMAILLOCALPART%
        ("Bob@EXAMPLE.test", "Bob@example.test"),  # domain lowered, local part kept
        ("  bob@example.test  ", "bob@example.test"),  # padding trimmed
    ],
)
def test_login_name_follows_the_domain_template(
    client: FlaskClient, address: str, login: str
) -> None:
    """LoginName is the domain's username template applied to the normalised address."""
    response = post(client, outlook_body(address))
    assert_outlook_rules(parse(response.data), login=login)


def test_dav_blocks_follow_the_mail_blocks(client: FlaskClient) -> None:
    """CalDAV/CardDAV come last, with the URL in Server, as eM Client reads them."""
    blocks = protocols(parse(post(client, outlook_body(ALICE)).data))
    types = [b["Type"] for b in blocks]
    assert types[-2:] == ["CalDAV", "CardDAV"]
    assert blocks[-2]["Server"] == "https://dav.example.test/dav/cal/"
    assert (blocks[-1]["Port"], blocks[-1]["SSL"]) == ("443", "on")
    assert "Encryption" not in blocks[-1]


def test_no_dav_blocks_without_dav_records(client: FlaskClient) -> None:
    """A domain without DAV SRV records gets mail blocks only."""
    root = parse(post(client, outlook_body("bob@weights.example.test")).data)
    assert [b["Type"] for b in protocols(root)] == ["IMAP", "SMTP"]
    assert protocols(root)[0]["Server"] == "heavy.weights.example.test"


def test_any_local_part_gets_the_same_settings(client: FlaskClient) -> None:
    """No enumeration: a made-up mailbox gets exactly what a real one gets."""
    one = post(client, outlook_body("alice@example.test")).data
    other = post(client, outlook_body("nobody-here@example.test")).data
    assert one.replace(b"alice@", b"nobody-here@") == other


# --- aliases ------------------------------------------------------------------------------


def test_alias_address_is_redirected_to_the_primary(client: FlaskClient) -> None:
    """[MS-OXDSCLI] 3.2.5: an alias-domain address gets redirectAddr with the primary one."""
    response = post(client, outlook_body("carol@alias.test"))
    assert response.status_code == 200
    root = parse(response.data)
    assert texts(root, "Account/Action") == ["redirectAddr"]
    assert texts(root, "Account/RedirectAddr") == ["carol@example.test"]
    assert protocols(root) == []
    assert response.headers["Cache-Control"] == "private, no-store"


def test_redirect_target_is_answered_with_settings(client: FlaskClient) -> None:
    """Following the redirect once ends in settings (Thunderbird follows at most two)."""
    first = parse(post(client, outlook_body("carol@alias.test")).data)
    (target,) = texts(first, "Account/RedirectAddr")
    second = parse(post(client, outlook_body(target)).data)
    assert_outlook_rules(second, login=target)


def test_mobilesync_alias_is_redirected(client: FlaskClient) -> None:
    """mobilesync: Action/Redirect carries the primary address ([MS-ASCMD] 2.2.3.147)."""
    response = post(client, activesync_body("carol@alias.test"), content_type="text/xml")
    root = parse(response.data)
    assert texts(root, "Action/Redirect", MOBILESYNC_NS) == ["carol@example.test"]
    assert texts(root, "User/EMailAddress", MOBILESYNC_NS) == ["carol@alias.test"]
    schema("AutodiscoverResponse.xsd").assertValid(root)


# --- ActiveSync (mobilesync) ---------------------------------------------------------------


def test_activesync_request_gets_mobilesync_settings(client: FlaskClient) -> None:
    """An ActiveSync client asking mobilesync gets the configured URL, schema-valid."""
    response = post(client, activesync_body(ALICE), content_type="text/xml")
    assert response.status_code == 200
    root = parse(response.data)
    schema("AutodiscoverResponse.xsd").assertValid(root)
    assert [child.tag for child in root] == [f"{{{MOBILESYNC_NS}}}Response"]
    url = "https://mail.example.test/Microsoft-Server-ActiveSync"
    assert texts(root, "Culture", MOBILESYNC_NS) == ["en:us"]
    assert texts(root, "User/EMailAddress", MOBILESYNC_NS) == [ALICE]
    assert texts(root, "Action/Settings/Server/Type", MOBILESYNC_NS) == ["MobileSync"]
    assert texts(root, "Action/Settings/Server/Url", MOBILESYNC_NS) == [url]
    assert texts(root, "Action/Settings/Server/Name", MOBILESYNC_NS) == [url]


def test_activesync_request_body_matches_the_request_schema() -> None:
    """The test's ActiveSync body is valid against [MS-ASCMD] 6.3, i.e. really shaped so."""
    assert MOBILESYNC_REQUEST_NS in activesync_body(ALICE).decode()
    schema("AutodiscoverRequest-mobilesync.xsd").assertValid(parse(activesync_body(ALICE)))


def test_mobilesync_without_activesync_server_is_601(client: FlaskClient) -> None:
    """No ActiveSync URL configured: ErrorCode 601 with HTTP 200, never an invented URL."""
    response = post(client, activesync_body("bob@weights.example.test"))
    assert response.status_code == 200
    assert error_of(response.data).code == 601
    assert b"MobileSync" not in response.data
    schema("AutodiscoverResponse.xsd").assertValid(parse(response.data))


# --- bodiless GET (Delta Chat, Outlook's redirect step) ------------------------------------


@pytest.mark.parametrize("host", ["autodiscover.example.test", "example.test"])
def test_bodiless_get_answers_the_host_domain(client: FlaskClient, host: str) -> None:
    """Delta Chat's GET without body or query: domain settings, no per-user elements."""
    response = client.get("/autodiscover/autodiscover.xml", headers={"Host": host})
    assert response.status_code == 200
    root = parse(response.data)
    assert_outlook_rules(root, login=None)
    assert texts(root, "User/DisplayName") == ["Example Test Mail"]
    assert texts(root, "User/AutoDiscoverSMTPAddress") == []
    assert [(b["Type"], b["Server"], b["Port"]) for b in protocols(root)] == EXAMPLE_TEST_BLOCKS
    assert response.headers["Cache-Control"].startswith("public, max-age=")


@pytest.mark.parametrize("param", ["Email", "emailaddress", "EMAIL"])
def test_get_with_address_parameter_is_per_user(client: FlaskClient, param: str) -> None:
    """``Email``/``emailaddress`` (any case) on a GET gives the per-user answer for that
    address, whichever served host was asked."""
    response = client.get(
        f"{POX_PATH}?{param}={ALICE}", headers={"Host": "autodiscover.weights.example.test"}
    )
    assert response.status_code == 200
    assert_outlook_rules(parse(response.data), login=ALICE)
    assert response.headers["Cache-Control"] == "private, no-store"


def test_get_with_alias_address_is_redirected(client: FlaskClient) -> None:
    """The query address follows the same alias rule as a POSTed one."""
    root = parse(client.get(f"{POX_PATH}?Email=dave@alias.test").data)
    assert texts(root, "Account/RedirectAddr") == ["dave@example.test"]


@pytest.mark.parametrize(
    ("host", "status", "code"),
    [
        # Not a served name: refused before any view (web/hosts.py), still as POX 600.
        ("autodiscover.unknown.test", 400, 600),
        ("under_score.test", 400, 600),
        # Loopback is a trusted host but names no domain: nothing served there.
        ("127.0.0.1:8000", 404, 601),
        ("localhost", 404, 601),
    ],
)
def test_get_for_unserved_host_is_an_error_document(
    client: FlaskClient, host: str, status: int, code: int
) -> None:
    """A Host that is no served domain gets the Error document, never settings."""
    response = client.get(POX_PATH, headers={"Host": host})
    assert response.status_code == status
    assert error_of(response.data).code == code


# --- errors -----------------------------------------------------------------------------


def _doctype(entities: str, reference: str) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE Autodiscover [{entities}]>'
        f'<Autodiscover xmlns="{OUTLOOK_REQUEST_NS}"><Request>'
        f"<EMailAddress>alice@{reference}</EMailAddress>"
        f"<AcceptableResponseSchema>{OUTLOOK_NS}</AcceptableResponseSchema>"
        "</Request></Autodiscover>"
    ).encode()


def _billion_laughs() -> bytes:
    levels = ['<!ENTITY l0 "lol">'] + [
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return _doctype("".join(levels), "&l9;")


def _request(inner: str) -> bytes:
    return (
        f'<Autodiscover xmlns="{OUTLOOK_REQUEST_NS}"><Request>{inner}</Request></Autodiscover>'
    ).encode()


SCHEMA = f"<AcceptableResponseSchema>{OUTLOOK_NS}</AcceptableResponseSchema>"
DEEP = _request(f"<EMailAddress>{ALICE}</EMailAddress>{SCHEMA}").replace(
    b"</Request>", b"<x>" * 300 + b"</x>" * 300 + b"</Request>"
)

#: (id, body, Content-Type, HTTP status, ErrorCode)
ERROR_CASES = [
    ("empty body", b"", XML, 400, 600),
    ("whitespace body", b"  \n", XML, 400, 600),
    ("truncated", outlook_body(ALICE)[:-40], XML, 400, 600),
    ("invalid utf-8", outlook_body(ALICE).replace(b"alice", b"al\xffice"), XML, 400, 600),
    ("not xml", b"alice@example.test", XML, 400, 600),
    ("doctype internal entity", _doctype('<!ENTITY d "example.test">', "&d;"), XML, 400, 600),
    (
        "external entity",
        _doctype('<!ENTITY d SYSTEM "file:///etc/hostname">', "&d;"),
        XML,
        400,
        600,
    ),
    ("billion laughs", _billion_laughs(), XML, 400, 600),
    (
        "bare doctype",
        b"<!DOCTYPE Autodiscover>" + outlook_body(ALICE).split(b"?>", 1)[1],
        XML,
        400,
        600,
    ),
    (
        "utf-16 with doctype",
        (
            '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE a>'
            + outlook_body(ALICE).decode().split("?>", 1)[1]
        ).encode("utf-16"),
        XML,
        400,
        600,
    ),
    ("undefined entity", outlook_body("alice@&d;"), XML, 400, 600),
    ("depth 300", DEEP, XML, 400, 600),
    ("20 KiB body", outlook_body(ALICE) + b" " * 20480, XML, 413, 600),
    ("form content type", outlook_body(ALICE), "application/x-www-form-urlencoded", 400, 600),
    ("text/plain", outlook_body(ALICE), "text/plain", 400, 600),
    ("no content type", outlook_body(ALICE), "", 400, 600),
    ("wrong root", outlook_body(ALICE).replace(b"Autodiscover", b"Discover"), XML, 400, 600),
    ("no Request", f'<Autodiscover xmlns="{OUTLOOK_REQUEST_NS}"/>'.encode(), XML, 400, 600),
    ("no EMailAddress", _request(SCHEMA), XML, 400, 600),
    ("empty EMailAddress", _request(f"<EMailAddress> </EMailAddress>{SCHEMA}"), XML, 400, 600),
    (
        "EMailAddress with markup",
        _request(f"<EMailAddress>alice<b/>@example.test</EMailAddress>{SCHEMA}"),
        XML,
        400,
        600,
    ),
    ("LegacyDN", _request(f"<LegacyDN>/o=Org/cn=alice</LegacyDN>{SCHEMA}"), XML, 400, 600),
    (
        "LegacyDN and EMailAddress",
        _request(f"<EMailAddress>{ALICE}</EMailAddress><LegacyDN>/o=x</LegacyDN>{SCHEMA}"),
        XML,
        400,
        600,
    ),
    ("not an address", outlook_body("alice"), XML, 400, 600),
    ("domain literal", outlook_body("alice@[127.0.0.1]"), XML, 400, 600),
    ("65-octet local part", outlook_body("x" * 65 + "@example.test"), XML, 400, 600),
    ("no schema", _request(f"<EMailAddress>{ALICE}</EMailAddress>"), XML, 400, 600),
    ("unknown schema", outlook_body(ALICE, OUTLOOK_NS[:-1]), XML, 200, 601),
    ("https schema", outlook_body(ALICE, OUTLOOK_NS.replace("http:", "https:")), XML, 200, 601),
    ("unknown domain", outlook_body("alice@unknown.test"), XML, 404, 601),
    ("no usable servers", outlook_body("alice@none.example.test"), XML, 404, 601),
    ("untrusted targets only", outlook_body("alice@evil.example.test"), XML, 404, 601),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_bad_requests_get_the_error_document(
    client: FlaskClient, body: bytes, content_type: str, status: int, code: int
) -> None:
    """Every malformed or unservable request gets a well-formed Error document: never a
    5xx, never a 401, never settings."""
    response = client.post(POX_PATH, data=body, content_type=content_type)
    assert response.status_code == status
    assert response.headers["Content-Type"] == XML
    assert "no-store" in response.headers["Cache-Control"]
    assert "WWW-Authenticate" not in response.headers
    error = error_of(response.data)
    assert error.code == code
    assert error.message in {"Invalid Request", "Invalid e-mail address"} or code == 601
    assert b"Protocol" not in response.data


@pytest.mark.parametrize(
    "body", [outlook_body(ALICE, "nope"), b"", outlook_body("alice@none.example.test")]
)
def test_error_documents_are_schema_valid(client: FlaskClient, body: bytes) -> None:
    """Error answers validate against [MS-ASCMD] 6.4 (its outer Response models errors)."""
    response = post(client, body)
    schema("AutodiscoverResponse.xsd").assertValid(parse(response.data))


def test_dns_failure_is_603_with_retry_after(knot_app: Flask) -> None:
    """SERVFAIL (Knot cannot load broken.test): 603, HTTP 503 and Retry-After."""
    response = post(knot_app.test_client(), outlook_body("alice@broken.test"))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert error_of(response.data).code == 603


class CountingSource:
    """The real zone-file source, counting the questions it is asked."""

    def __init__(self, zone: Path) -> None:
        self.inner = ZoneSource((zone,))
        self.asked = 0

    def ask(self, questions: Sequence[Question]) -> dict[Question, RRset]:
        self.asked += len(questions)
        return self.inner.ask(questions)


def test_unknown_domain_and_redirects_cost_no_dns() -> None:
    """Allow-list before DNS: unknown domains, aliases and schema refusals ask nothing."""
    source = CountingSource(ZONE_FILE)
    client = create_app(config(zone_files=[str(ZONE_FILE)]), source=source).test_client()
    assert post(client, outlook_body("a@unknown.test")).status_code == 404
    assert post(client, outlook_body("a@alias.test")).status_code == 200
    assert post(client, activesync_body("a@weights.example.test")).status_code == 200
    assert source.asked == 0
    assert post(client, outlook_body(ALICE)).status_code == 200
    assert source.asked > 0


# --- hostile addresses ----------------------------------------------------------------------


def _xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


HOSTILE = [
    "a&b@example.test",
    '"a<b>c"@example.test',
    "o'hara@example.test",
    '"quoted \\" and \' marks"@example.test',
    '"</LoginName><x>"@example.test',
    "x" * 64 + "@example.test",
    "jörg@example.test",
    "用户@example.test",
    "alice@straße.example.test",
]


@pytest.mark.parametrize("address", HOSTILE)
def test_hostile_addresses_round_trip_as_text(client: FlaskClient, address: str) -> None:
    """Markup characters, quotes, the longest local part and non-ASCII stay text: the answer
    is well-formed and LoginName reads back as the normalised address."""
    from autoconf.address import parse_address

    expected = str(parse_address(address))
    response = post(client, outlook_body(_xml_text(address)))
    assert response.status_code == 200
    root = parse(response.data)
    assert_outlook_rules(root, login=expected)
    assert texts(root, "User/AutoDiscoverSMTPAddress") == [expected]
    assert root.find(".//{*}x") is None


@pytest.mark.parametrize("address", HOSTILE[:5])
def test_hostile_addresses_in_mobilesync_round_trip(client: FlaskClient, address: str) -> None:
    """The mobilesync answer escapes the echoed address as well and stays schema-valid."""
    from autoconf.address import parse_address

    root = parse(post(client, activesync_body(_xml_text(address))).data)
    assert texts(root, "User/EMailAddress", MOBILESYNC_NS) == [str(parse_address(address))]
    schema("AutodiscoverResponse.xsd").assertValid(root)


def test_thunderbird_unescaped_ampersand_is_600(client: FlaskClient) -> None:
    """Thunderbird pastes the address unescaped: ``a&b`` makes its body malformed -> 600."""
    response = post(client, thunderbird_body("a&b@example.test"))
    assert response.status_code == 400
    assert error_of(response.data).code == 600


# --- credentials --------------------------------------------------------------------------


def test_basic_auth_probe_is_answered_and_never_logged(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Thunderbird's probe carries Basic credentials: 200, no 401, nothing of it logged."""
    secret = base64.b64encode(b"alice@example.test:hunter2-secret").decode()
    headers = {"Authorization": f"Basic {secret}"}
    with caplog.at_level(logging.DEBUG):
        ok = post(client, thunderbird_body(ALICE), headers=headers)
        bad = post(client, b"<broken", headers=headers)
        get = client.get(f"{POX_PATH}?Email={ALICE}", headers=headers)
    assert [r.status_code for r in (ok, bad, get)] == [200, 400, 200]
    assert all("WWW-Authenticate" not in r.headers for r in (ok, bad, get))
    assert caplog.records, "the error path should have logged something"
    for needle in (secret, "hunter2", "Authorization", "Basic", ALICE):
        assert needle not in caplog.text


# --- exchangelib as a parser oracle --------------------------------------------------------


@pytest.fixture(name="exchangelib_autodiscover")
def fixture_exchangelib_autodiscover() -> type:
    """exchangelib 4.9's POX response class (skip when not installed)."""
    properties = pytest.importorskip(
        "exchangelib.autodiscover.properties",
        reason="exchangelib 4.9.0 (PyPI, the last POX client) is not installed",
    )
    return properties.Autodiscover


def test_exchangelib_reads_settings(client: FlaskClient, exchangelib_autodiscover: type) -> None:
    """exchangelib parses the 2006a answer: no error, protocols and LoginName as sent."""
    parsed = exchangelib_autodiscover.from_bytes(post(client, outlook_body(ALICE)).data)
    parsed.raise_errors()
    account = parsed.response.account
    assert (account.type, account.action) == ("email", "settings")
    assert [p.type for p in account.protocols][:3] == ["IMAP", "POP3", "SMTP"]
    imap = account.protocols[0]
    assert (imap.server, imap.port, imap.login_name) == ("mail.example.test", 993, ALICE)
    assert (imap.ssl, imap.spa, imap.auth_required, imap.domain_required) == (
        True,
        False,
        True,
        False,
    )


def test_exchangelib_reads_redirect(client: FlaskClient, exchangelib_autodiscover: type) -> None:
    """exchangelib sees the alias redirect as redirect_address."""
    parsed = exchangelib_autodiscover.from_bytes(post(client, outlook_body("erin@alias.test")).data)
    assert parsed.response.redirect_address == "erin@example.test"


@pytest.mark.parametrize(("body", "code"), [(b"", "600"), (outlook_body(ALICE, "x"), "601")])
def test_exchangelib_reads_errors(
    client: FlaskClient, exchangelib_autodiscover: type, body: bytes, code: str
) -> None:
    """exchangelib raises AutoDiscoverFailed naming our ErrorCode."""
    from exchangelib.errors import AutoDiscoverFailed

    parsed = exchangelib_autodiscover.from_bytes(post(client, body).data)
    with pytest.raises(AutoDiscoverFailed, match=f"Unknown error {code}"):
        parsed.raise_errors()


@pytest.mark.parametrize(("size", "refused"), [(0, False), (16384, False), (16385, True)])
def test_read_capped_counts_what_it_reads(size: int, refused: bool) -> None:
    """The cap holds without a declared length (chunked bodies): limit bytes pass, one
    more is refused."""
    import io

    from autoconf.errors import PayloadTooLargeError
    from autoconf.web.autodiscover import read_capped

    stream = io.BytesIO(b"x" * size)
    if refused:
        with pytest.raises(PayloadTooLargeError):
            read_capped(stream, 16384)
    else:
        assert read_capped(stream, 16384) == b"x" * size


def test_body_shorter_than_declared_is_a_client_error(client: FlaskClient) -> None:
    """A body that stops before its declared length (the client went away) is refused
    with 400, never read as the XML it was cut from, never a 5xx."""
    body = outlook_body(ALICE)
    response = client.post(
        POX_PATH,
        data=body[:50],
        content_type=XML,
        environ_overrides={"CONTENT_LENGTH": str(len(body))},
    )
    assert response.status_code == 400

"""Property tests over HTTP for the surfaces tests/test_properties.py does not cover:
POX bodies (random, truncated, re-encoded, DTDs and entity bombs, nesting, namespaces and
prefixes), Autodiscover v2 query and path forms, and every route with any method.

Each property holds for every generated input: never a 5xx, never a traceback, the answer
is in the requesting client's format and parses, and an echoed address reads back as text.
Example counts are bounded so the default run stays fast.
"""

from __future__ import annotations

import json
import string
import urllib.parse

from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from autoconf.address import parse_address
from autoconf.errors import AutoconfError
from autoconf.formats.autodiscover_json import ERROR_CODES
from autoconf.formats.autodiscover_json import POX_URL
from autoconf.formats.autodiscover_json import V2Protocol
from tests.conftest import DOMAINS
from tests.pox import MOBILESYNC_NS
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
from tests.routes import route_urls

FIXTURES = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
ALICE = "alice@example.test"
CLIENT_BODIES = [f(ALICE) for f in (outlook_body, thunderbird_body, em_client_body)]
CLIENT_BODIES.append(activesync_body(ALICE))
SCHEMA = f"<AcceptableResponseSchema>{OUTLOOK_NS}</AcceptableResponseSchema>"
#: Statuses a POX request may earn: settings, 601 in 200, 600, unknown domain, body cap.
POX_STATUSES = {200, 400, 404, 413}
V2_PATH = "/autodiscover/autodiscover.json"


def pox(client: FlaskClient, body: bytes, content_type: str = XML) -> TestResponse:
    """POST ``body`` and check what every POX answer must be: no 5xx, no traceback, no
    401, and a well-formed document (settings or the Error document)."""
    response = client.post(POX_PATH, data=body, content_type=content_type)
    assert response.status_code in POX_STATUSES
    assert b"Traceback" not in response.data
    assert "WWW-Authenticate" not in response.headers
    parse(response.data)
    if response.status_code != 200:
        assert error_of(response.data).code in {600, 601}
    return response


def xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- POX bodies -----------------------------------------------------------------------------


@settings(suppress_health_check=FIXTURES, max_examples=100, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes(client: FlaskClient, body: bytes) -> None:
    """Any bytes as a POX body: a well-formed Error document (or settings), never a 5xx."""
    pox(client, body)


@settings(suppress_health_check=FIXTURES, max_examples=100, deadline=None)
@given(st.sampled_from(CLIENT_BODIES), st.data())
def test_truncated_client_requests(client: FlaskClient, body: bytes, data: st.DataObject) -> None:
    """Every prefix of a real client request is refused with 600, except the whole one."""
    cut = data.draw(st.integers(0, len(body) - 1))
    # Trailing whitespace after the root element is the whole document again.
    assume(body[:cut].rstrip() != body.rstrip())
    response = pox(client, body[:cut])
    assert (response.status_code, error_of(response.data).code) == (400, 600)


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "iso-8859-1"]
address_text = st.builds(
    "{}@{}".format,
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn")),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from(["example.test", "EXAMPLE.test.", "straße.example.test"]),
)


@settings(suppress_health_check=FIXTURES, max_examples=80, deadline=None)
@given(address_text, st.sampled_from(ENCODINGS), st.booleans())
def test_encodings_round_trip_the_address(
    client: FlaskClient, address: str, encoding: str, declared: bool
) -> None:
    """The same request in UTF-8 (with or without BOM), UTF-16 (BOM, LE/BE without BOM),
    UTF-32 or declared Latin-1 (characters outside it as character references) asks for
    the same mailbox: the answer echoes the normalised address as text, or refuses it as
    600 exactly when the address is invalid. UTF-16 with neither BOM nor declaration is not
    XML (XML 1.0 section 4.3.3, appendix F) and gets 600 too."""
    try:
        expected: str | None = str(parse_address(address))
    except AutoconfError:
        expected = None
    text = outlook_body(xml_text(address)).decode()
    label = {"utf-8-sig": "utf-8", "utf-16-le": "utf-16", "utf-16-be": "utf-16"}
    text = text.replace('encoding="utf-8"', f'encoding="{label.get(encoding, encoding)}"')
    if not declared and encoding.startswith(("utf-16", "utf-32")):
        text = text.split("?>", 1)[1].lstrip()  # no declaration: detected from the BOM
        if encoding in ("utf-16-le", "utf-16-be"):
            expected = None  # nothing to detect the encoding from
    response = pox(client, text.encode(encoding, errors="xmlcharrefreplace"))
    if expected is None:
        assert error_of(response.data).code == 600
    else:
        assert response.status_code == 200, response.data
        assert texts(parse(response.data), "Account/Protocol/LoginName")[0] == expected


entity_name = st.text(alphabet=string.ascii_letters, min_size=1, max_size=8)


@st.composite
def doctypes(draw: st.DrawFn) -> bytes:
    """A request with a DOCTYPE in one of its forms: bare, SYSTEM/PUBLIC, internal subset
    with general, parameter, external or nested (bomb-shaped) entities."""
    name = draw(entity_name)
    levels = draw(st.integers(1, 12))
    fan = draw(st.integers(1, 12))
    subsets = [
        "",
        ' SYSTEM "file:///etc/passwd"',
        ' PUBLIC "-//x//y" "http://127.0.0.1:9/x.dtd"',
        f' [<!ENTITY {name} "example.test">]',
        f' [<!ENTITY {name} SYSTEM "file:///etc/hostname">]',
        f' [<!ENTITY % {name} SYSTEM "http://127.0.0.1:9/p.dtd"> %{name};]',
        " ["
        + f'<!ENTITY {name}0 "lol">'
        + "".join(f'<!ENTITY {name}{i} "{f"&{name}{i - 1};" * fan}">' for i in range(1, levels))
        + "]",
    ]
    subset = draw(st.sampled_from(subsets))
    reference = draw(st.sampled_from(["example.test", f"&{name};", f"&{name}{levels - 1};"]))
    root = draw(st.sampled_from(["Autodiscover", name]))
    body = outlook_body(f"alice@{reference}").decode()
    declaration, rest = body.split("?>", 1)
    return f"{declaration}?><!DOCTYPE {root}{subset}>{rest}".encode()


@settings(suppress_health_check=FIXTURES, max_examples=100, deadline=None)
@given(doctypes())
def test_any_doctype_is_refused(client: FlaskClient, body: bytes) -> None:
    """Whatever the DTD says (entity bombs included), the answer is 400 with 600: no
    entity is expanded, nothing is fetched, no settings are given."""
    response = pox(client, body)
    assert (response.status_code, error_of(response.data).code) == (400, 600)


@settings(suppress_health_check=FIXTURES, max_examples=40, deadline=None)
@given(st.integers(1, 600), st.sampled_from(["inside", "around"]))
def test_nesting_depth(client: FlaskClient, depth: int, where: str) -> None:
    """Extra elements inside Request are ignored up to libxml2's depth limit (256 levels,
    two of them Autodiscover and Request), beyond it the body is malformed (600); nesting
    around the root is no Autodiscover request (600)."""
    filler = "<x>" * depth + "</x>" * depth
    if where == "inside":
        inner = f"<EMailAddress>{ALICE}</EMailAddress>{SCHEMA}{filler}"
        body = (
            f'<Autodiscover xmlns="{OUTLOOK_REQUEST_NS}"><Request>{inner}</Request></Autodiscover>'
        )
    else:
        body = "<x>" * depth + outlook_body(ALICE).decode().split("?>", 1)[1] + "</x>" * depth
    response = pox(client, body.encode())
    ok = where == "inside" and depth + 2 <= 256
    assert response.status_code == (200 if ok else 400)


prefix = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=6).filter(
    lambda p: not p.startswith("xml")
)
namespace_uri = st.sampled_from(
    [
        OUTLOOK_REQUEST_NS,
        OUTLOOK_REQUEST_NS.replace("outlook", "mobilesync"),
        "urn:anything",
        "",
    ]
)


@settings(suppress_health_check=FIXTURES, max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), prefix), min_size=4, max_size=4), namespace_uri)
def test_namespace_and_prefix_variants(
    client: FlaskClient, prefixes: list[str | None], uri: str
) -> None:
    """Each element may be prefixed or in the default namespace, with any namespace name:
    the request is read by local names (settings for alice), never a 5xx."""
    names = ["Autodiscover", "Request", "EMailAddress", "AcceptableResponseSchema"]
    declared = {p for p in prefixes if p}
    xmlns = "".join(f' xmlns:{p}="{uri or "urn:x"}"' for p in sorted(declared))
    if None in prefixes and uri:
        xmlns += f' xmlns="{uri}"'
    tag = [f"{p}:{n}" if p else n for p, n in zip(prefixes, names, strict=True)]
    body = (
        f"<{tag[0]}{xmlns}><{tag[1]}><{tag[2]}>{ALICE}</{tag[2]}>"
        f"<{tag[3]}>{OUTLOOK_NS}</{tag[3]}></{tag[1]}></{tag[0]}>"
    )
    response = pox(client, body.encode())
    assert response.status_code == 200
    assert texts(parse(response.data), "User/AutoDiscoverSMTPAddress") == [ALICE]


quoted_local = st.text(
    alphabet=string.ascii_letters + string.digits + "&<>'\"!#$%*/=?^`{|}~ .\\-",
    min_size=1,
    max_size=40,
).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"')


@settings(suppress_health_check=FIXTURES, max_examples=100, deadline=None)
@given(st.one_of(st.emails(), quoted_local.map(lambda q: q + "@example.test")))
def test_echoed_addresses_stay_text_in_both_schemas(client: FlaskClient, address: str) -> None:
    """Markup characters in (quoted) local parts come back as the same text in the outlook
    and mobilesync answers; no element is injected."""
    try:
        expected = str(parse_address(address))
    except AutoconfError:
        return
    assume(expected.endswith("@example.test"))
    for render, field, namespace in (
        (outlook_body, "User/AutoDiscoverSMTPAddress", OUTLOOK_NS),
        (activesync_body, "User/EMailAddress", MOBILESYNC_NS),
    ):
        root = parse(pox(client, render(xml_text(address))).data)
        assert texts(root, field, namespace) == [expected]
        # Same elements as alice's answer: nothing injected.
        reference = parse(pox(client, render(ALICE)).data)
        assert [e.tag for e in root.iter()] == [e.tag for e in reference.iter()]


# --- Autodiscover v2 ------------------------------------------------------------------------


def error_classes(base: type[AutoconfError]) -> list[type[AutoconfError]]:
    return [base, *(c for sub in base.__subclasses__() for c in error_classes(sub))]


#: Every value a v2 document may hold: the fixed URLs of the served domains, the protocol
#: names and the fixed error codes and messages. Anything else would be an echo.
V2_VALUES = (
    {POX_URL.format(domain=d) for d in DOMAINS}
    | {str(p.get("activesync_url")) for p in DOMAINS.values() if p.get("activesync_url")}
    | {p.value for p in V2Protocol}
    | {code for _, code in ERROR_CODES}
    | {c.public_message for c in error_classes(AutoconfError)}
)
protocol_value = st.one_of(
    st.sampled_from(["AutodiscoverV1", "activesync", "ACTIVESYNC", "Ews", "rest", " "]),
    st.text(max_size=40),
)
param_name = st.sampled_from(["Email", "email", "EMAIL", "emailaddress", "Protocol", "protocol"])


def v2(client: FlaskClient, url: str) -> None:
    """GET a v2 URL: no 5xx, a JSON document holding only fixed values."""
    response = client.get(url, headers={"Host": "autodiscover.example.test"})
    assert response.status_code in {200, 400, 404, 413}
    assert response.content_type == "application/json"
    document = json.loads(response.data)
    assert set(document) in ({"Protocol", "Url"}, {"ErrorCode", "ErrorMessage"})
    assert set(document.values()) <= V2_VALUES


@settings(suppress_health_check=FIXTURES, max_examples=100, deadline=None)
@given(st.lists(st.tuples(param_name, st.one_of(address_text, protocol_value)), max_size=5))
def test_v2_query_form(client: FlaskClient, pairs: list[tuple[str, str]]) -> None:
    """Any mix of Email/Protocol parameters (repeated, any case, any value) gets a JSON
    answer made of fixed values only."""
    v2(client, V2_PATH + "?" + urllib.parse.urlencode(pairs))


@settings(suppress_health_check=FIXTURES, max_examples=100, deadline=None)
@given(st.one_of(address_text, st.text(min_size=1, max_size=80)), protocol_value)
def test_v2_path_form(client: FlaskClient, tail: str, protocol: str) -> None:
    """Any (percent-encoded) text as the address segment of the path form: JSON made of
    fixed values, no 5xx."""
    quoted = urllib.parse.quote(tail, safe="@")
    query = urllib.parse.urlencode({"Protocol": protocol})
    v2(client, f"{V2_PATH}/v1.0/{quoted}?{query}")


# --- every route, any method ----------------------------------------------------------------


@settings(suppress_health_check=FIXTURES, max_examples=120, deadline=None)
@given(
    st.data(),
    st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND"]),
    st.binary(max_size=64),
)
def test_any_route_any_method(
    app: Flask, client: FlaskClient, data: st.DataObject, method: str, body: bytes
) -> None:
    """Every route with every method (and a small body): a 2xx-4xx answer, never 401."""
    url = data.draw(st.sampled_from(route_urls(app)))
    response = client.open(url, method=method, data=body, headers={"Host": "example.test"})
    assert 200 <= response.status_code < 500
    assert response.status_code != 401 and "WWW-Authenticate" not in response.headers
    assert b"Traceback" not in response.data

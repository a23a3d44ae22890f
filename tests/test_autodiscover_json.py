"""Autodiscover v2 (JSON): both URL forms, any casing, a fixed protocol set."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from flask import Flask
from flask.testing import FlaskClient

from autoconf import create_app
from autoconf.config import settings_from_mapping
from autoconf.errors import InvalidProtocolError
from autoconf.formats.autodiscover_json import V2Protocol
from autoconf.formats.autodiscover_json import parse_protocol
from autoconf.model import Question
from autoconf.model import RecordSource
from autoconf.model import RRset
from autoconf.model import Status
from autoconf.sources import make_source
from tests.conftest import config
from tests.knot import Knot

POX_URL = "https://autodiscover.example.test/autodiscover/autodiscover.xml"
EAS_URL = "https://mail.example.test/Microsoft-Server-ActiveSync"

FORMS = [
    "/autodiscover/autodiscover.json?Email=alice@example.test&Protocol={p}&RedirectCount=1",
    "/Autodiscover/Autodiscover.json?email=alice@example.test&protocol={p}",
    "/AUTODISCOVER/AUTODISCOVER.JSON?EMAIL=alice%40example.test&PROTOCOL={p}",
    "/autodiscover/autodiscover.json/v1.0/alice@example.test?Protocol={p}",
    "/Autodiscover/Autodiscover.json/V1.0/alice%40example.test?Protocol={p}",
]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    ("protocol", "url"),
    [
        ("AutodiscoverV1", POX_URL),
        ("autodiscoverv1", POX_URL),
        ("ActiveSync", EAS_URL),
        ("ACTIVESYNC", EAS_URL),
    ],
)
def test_both_url_forms_in_any_case(
    client: FlaskClient, form: str, protocol: str, url: str
) -> None:
    """Query and path forms, any letter case, protocol compared case-insensitively; the
    answer names the protocol in its canonical spelling."""
    response = client.get(form.format(p=protocol), headers={"User-Agent": "Microsoft Office/16.0"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "private, no-store"
    canonical = "ActiveSync" if protocol.lower() == "activesync" else "AutodiscoverV1"
    assert json.loads(response.data) == {"Protocol": canonical, "Url": url}


def test_alias_address_points_at_the_primary_pox_url(client: FlaskClient) -> None:
    """An alias-domain address is sent to the primary's POX endpoint (which redirects)."""
    response = client.get(
        "/autodiscover/autodiscover.json/v1.0/bob@alias.test?Protocol=AutodiscoverV1"
    )
    assert json.loads(response.data)["Url"] == POX_URL


def test_host_domain_when_no_address(client: FlaskClient) -> None:
    """Without ``Email`` the Host header names the domain, as on every other endpoint."""
    response = client.get(
        "/autodiscover/autodiscover.json?Protocol=AutodiscoverV1",
        headers={"Host": "autodiscover.example.test"},
    )
    assert json.loads(response.data)["Url"] == POX_URL


# --- where AutodiscoverV1 sends Outlook ------------------------------------------------------

V1 = "/autodiscover/autodiscover.json?Protocol=AutodiscoverV1&Email="


def pox_url(host: str) -> str:
    return f"https://{host}/autodiscover/autodiscover.xml"


@pytest.mark.parametrize(
    ("host", "address", "url"),
    [
        # The name the request arrived at, when it is one of ours: it reaches this service.
        ("autoconfig.example.test", "alice@example.test", pox_url("autoconfig.example.test")),
        ("example.test", "alice@example.test", pox_url("example.test")),
        ("AutoDiscover.Alias.Test:443", "alice@alias.test", pox_url("autodiscover.alias.test")),
        ("autodiscover.example.test", "bob@pop.example.test", pox_url("autodiscover.example.test")),
        ("autoconf.provider.test", "alice@example.test", pox_url("autoconf.provider.test")),
        # Loopback (a proxy passing its own Host) is no name for Outlook: the domain's
        # _autodiscover._tcp record, under the trust policy...
        ("localhost", "alice@hosted.example.test", pox_url("autodiscover.provider.test")),
        ("127.0.0.1:8000", "alice@poponly.example.test", pox_url("ad.poponly.example.test:8443")),
        # ...or, with no usable record (untrusted target, none at all), autodiscover.<d>.
        ("localhost", "alice@pop.example.test", pox_url("autodiscover.pop.example.test")),
        ("[::1]", "a@weights.example.test", pox_url("autodiscover.weights.example.test")),
        # An alias is looked up at its primary.
        ("localhost", "alice@alias.test", pox_url("autodiscover.example.test")),
    ],
)
def test_autodiscover_v1_url_is_a_name_that_answers(
    running_knot: Knot, host: str, address: str, url: str
) -> None:
    """AutodiscoverV1 points at a host known to serve POX, never blindly at
    ``autodiscover.<primary>`` (which may not be deployed: Outlook would get nothing)."""
    client = v2_app(running_knot).test_client()
    response = client.get(V1 + address, headers={"Host": host})
    assert response.status_code == 200
    assert json.loads(response.data) == {"Protocol": "AutodiscoverV1", "Url": url}


def v2_app(knot: Knot, source: RecordSource | None = None) -> Flask:
    """The test domains over Knot, with one extra trusted host name."""
    settings = config(nameservers=[knot.nameserver], timeout=1.0)
    settings["http"] = {"trusted_hosts": ["autoconf.provider.test"]}
    app = create_app(settings_from_mapping(settings), source=source)
    app.config["TESTING"] = True
    return app


class FlakySource:
    """The real Knot source, counting questions; the Autodiscover SRV fails while
    ``failing`` is set (SERVFAIL, as a resolver reports it)."""

    def __init__(self, knot: Knot) -> None:
        settings = settings_from_mapping(config(nameservers=[knot.nameserver], timeout=1.0))
        self.inner = make_source(settings.dns)
        self.asked: list[Question] = []
        self.failing = False

    def ask(self, questions: Sequence[Question]) -> dict[Question, RRset]:
        self.asked.extend(questions)
        answers = self.inner.ask(questions)
        for question in questions:
            if self.failing and question[0].startswith("_autodiscover."):
                answers[question] = RRset(
                    name=question[0], rdtype="SRV", status=Status.FAILED, error="SERVFAIL"
                )
        return answers


def test_autodiscover_srv_is_asked_once_per_settings_and_failures_are_not_kept(
    running_knot: Knot,
) -> None:
    """The SRV question costs one query per domain and settings version; a failed one
    falls back to autodiscover.<d> without being remembered, and a name the request
    arrived at costs no question at all."""
    source = FlakySource(running_knot)
    client = v2_app(running_knot, source).test_client()
    srv = ("_autodiscover._tcp.hosted.example.test.", "SRV")
    source.failing = True
    first = client.get(V1 + "a@hosted.example.test", headers={"Host": "localhost"})
    assert json.loads(first.data)["Url"] == pox_url("autodiscover.hosted.example.test")
    source.failing = False
    for _ in range(3):
        again = client.get(V1 + "a@hosted.example.test", headers={"Host": "localhost"})
        assert json.loads(again.data)["Url"] == pox_url("autodiscover.provider.test")
    assert source.asked.count(srv) == 2
    client.get(V1 + "a@hosted.example.test", headers={"Host": "autodiscover.example.test"})
    assert source.asked.count(srv) == 2


HOSTILE_PROTOCOLS = [
    "Ews",
    "Rest",
    "Substrate",
    "",
    '"},"Url":"https://evil.test',
    "<script>alert(1)</script>",
    "AutodiscoverV1\u0000",
    "x" * 2000,
]


@pytest.mark.parametrize("protocol", HOSTILE_PROTOCOLS)
def test_other_protocols_are_400_invalid_protocol(client: FlaskClient, protocol: str) -> None:
    """Anything outside the fixed set: 400 InvalidProtocol, the value never echoed."""
    response = client.get(
        "/autodiscover/autodiscover.json",
        query_string={"Email": "a@example.test", "Protocol": protocol},
    )
    assert response.status_code == 400
    document = json.loads(response.data)
    assert document["ErrorCode"] == "InvalidProtocol"
    assert "AutodiscoverV1" in document["ErrorMessage"]
    assert set(document) == {"ErrorCode", "ErrorMessage"}
    if protocol:
        assert protocol not in response.data.decode()


def test_missing_protocol_is_400(client: FlaskClient) -> None:
    """No ``Protocol`` at all is an invalid protocol too."""
    response = client.get("/autodiscover/autodiscover.json?Email=a@example.test")
    assert (response.status_code, json.loads(response.data)["ErrorCode"]) == (
        400,
        "InvalidProtocol",
    )


def test_activesync_without_server_is_invalid_protocol(client: FlaskClient) -> None:
    """ActiveSync for a domain with no ActiveSync URL: 400, never an invented URL."""
    response = client.get(
        "/autodiscover/autodiscover.json/v1.0/a@weights.example.test?Protocol=ActiveSync"
    )
    assert response.status_code == 400
    assert json.loads(response.data)["ErrorCode"] == "InvalidProtocol"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/autodiscover/autodiscover.json/v1.0/a@unknown.test", 404, "NotFound"),
        ("/autodiscover/autodiscover.json/v1.0/a@none.example.test", 404, "NotFound"),
        ("/autodiscover/autodiscover.json/v1.0/not-an-address", 400, "InvalidRequest"),
        ("/autodiscover/autodiscover.json/v1.0/a@[127.0.0.1]", 400, "InvalidRequest"),
        ("/autodiscover/autodiscover.json?Email=%3Cx%3E", 400, "InvalidRequest"),
    ],
)
def test_unservable_requests_get_json_errors(
    client: FlaskClient, path: str, status: int, code: str
) -> None:
    """Unknown or settings-less domains 404, bad addresses 400, both as JSON."""
    response = client.get(path + ("&" if "?" in path else "?") + "Protocol=AutodiscoverV1")
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.data)["ErrorCode"] == code
    assert "<x>" not in response.data.decode()


def test_dns_failure_is_503_with_retry_after(knot_app: Flask) -> None:
    """SERVFAIL from Knot: 503 + Retry-After, JSON body."""
    response = knot_app.test_client().get(
        "/autodiscover/autodiscover.json/v1.0/a@broken.test?Protocol=AutodiscoverV1"
    )
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert json.loads(response.data)["ErrorCode"] == "ServiceUnavailable"


def test_no_401_even_with_credentials(client: FlaskClient) -> None:
    """Outlook may attach credentials; the answer never asks for them."""
    response = client.get(
        "/autodiscover/autodiscover.json/v1.0/a@example.test?Protocol=Ews",
        headers={"Authorization": "Basic YTpi"},
    )
    assert response.status_code == 400
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("AutodiscoverV1", V2Protocol.AUTODISCOVER_V1),
        (" autodiscoverV1 ", V2Protocol.AUTODISCOVER_V1),
        ("activeSYNC", V2Protocol.ACTIVESYNC),
    ],
)
def test_parse_protocol_table(value: str, expected: V2Protocol) -> None:
    """The fixed set, compared case-insensitively after trimming."""
    assert parse_protocol(value) is expected


@pytest.mark.parametrize("value", [None, "", "Ews", "AutodiscoverV2", "Active Sync"])
def test_parse_protocol_refuses(value: str | None) -> None:
    """Everything else raises InvalidProtocolError."""
    with pytest.raises(InvalidProtocolError):
        parse_protocol(value)

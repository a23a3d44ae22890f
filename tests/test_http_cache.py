"""HTTP caching: Cache-Control from the remaining TTL, ETag, If-None-Match, private answers."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from autoconf import create_app
from autoconf.app import EXTENSION
from autoconf.web.common import xml_response
from tests.conftest import config
from tests.doubles import FakeClock
from tests.knot import Knot
from tests.zone_edit import SHORT
from tests.zone_edit import short_imaps_port

TB = "/mail/config-v1.1.xml"


def test_thunderbird_answer_is_public_with_a_strong_etag(client: FlaskClient) -> None:
    """The placeholder document is cacheable by anyone for the remaining TTL (<= 60 s for
    example.test, whose absent labels carry a 60 s negative TTL) and has a strong ETag."""
    response = client.get(TB, query_string={"emailaddress": "alice@example.test"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=60"
    etag = response.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")


def test_every_address_of_a_domain_gets_the_same_document(client: FlaskClient) -> None:
    """Address-independent: other users, the alias and the Host header share one ETag."""
    answers = [
        client.get(TB, query_string={"emailaddress": "alice@example.test"}),
        client.get(TB, query_string={"emailaddress": "bob@alias.test"}),
        client.get(TB, headers={"Host": "autoconfig.example.test"}),
    ]
    assert len({a.headers["ETag"] for a in answers}) == 1
    assert len({a.data for a in answers}) == 1


@pytest.mark.parametrize(
    ("if_none_match", "status"),
    [
        ("{etag}", 304),
        ("W/{etag}", 304),  # If-None-Match compares weakly (RFC 9110 section 13.1.2)
        ('"other", {etag}', 304),
        ("*", 304),
        ('"other"', 200),
    ],
)
def test_if_none_match(client: FlaskClient, if_none_match: str, status: int) -> None:
    """A matching If-None-Match gets 304 without a body, with the validators repeated."""
    etag = client.get(TB, headers={"Host": "example.test"}).headers["ETag"]
    response = client.get(
        TB,
        headers={"Host": "example.test", "If-None-Match": if_none_match.format(etag=etag)},
    )
    assert response.status_code == status
    assert response.headers["ETag"] == etag
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    assert (response.data == b"") == (status == 304)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"emailaddress": "alice@unknown.test"}, 404),
        ({"emailaddress": "alice@none.example.test"}, 404),
        ({"emailaddress": "not an address"}, 400),
    ],
)
def test_errors_are_never_stored(client: FlaskClient, query: dict[str, str], status: int) -> None:
    """Error answers carry no-store and no validator."""
    response = client.get(TB, query_string=query)
    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"
    assert "ETag" not in response.headers


def test_answers_without_max_age_are_private(app: Flask) -> None:
    """The helper's contract for answers that echo the address: private, never stored,
    no validator even when the client sends If-None-Match."""
    with app.test_request_context(headers={"If-None-Match": "*"}):
        response = xml_response(b"<x/>", etag='"abc"')
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "ETag" not in response.headers


def test_document_is_rendered_once_per_provider_version(app: Flask, client: FlaskClient) -> None:
    """Repeated requests reuse the rendered bytes: the cached document is what was sent."""
    body = client.get(TB, headers={"Host": "example.test"}).data
    state = app.extensions[EXTENSION]
    version = state.discoverer.served("example.test").version

    def must_not_render() -> bytes:
        raise AssertionError("rendered again")

    assert state.documents.get(("thunderbird", version), must_not_render).body == body


def test_dns_change_reaches_the_document_within_the_ttl(running_knot: Knot) -> None:
    """max-age counts down the 2 s TTL; after it, the changed zone gives a new ETag."""
    clock = FakeClock()
    mapping = config(nameservers=[running_knot.nameserver], timeout=1.0)
    mapping["cache"] = {"floor": 0}
    client = create_app(mapping, clock=clock).test_client()
    first = client.get(TB, headers={"Host": SHORT})
    assert first.headers["Cache-Control"] == "public, max-age=2"
    with short_imaps_port(running_knot, 994):
        clock.advance(1)
        cached = client.get(TB, headers={"Host": SHORT})
        clock.advance(1)
        changed = client.get(TB, headers={"Host": SHORT})
    assert cached.headers["Cache-Control"] == "public, max-age=1"
    assert cached.headers["ETag"] == first.headers["ETag"]
    assert changed.headers["ETag"] != first.headers["ETag"]
    assert b"<port>994</port>" in changed.data


def test_cache_events_reach_the_metrics(client: FlaskClient) -> None:
    """/metrics counts the settings cache's misses and hits."""
    for _ in range(3):
        client.get(TB, headers={"Host": "example.test"})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'autoconf_cache_events_total{event="miss"} 1.0' in text
    assert 'autoconf_cache_events_total{event="hit"} 2.0' in text

"""HTTP caching: Cache-Control from the remaining TTL, ETag, If-None-Match, private answers."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient

from autoconf import create_app
from autoconf.web import responses
from autoconf.web.responses import DOMAIN_HEADER
from autoconf.web.state import EXTENSION
from tests.conftest import config
from tests.doubles import FakeClock
from tests.knot import Knot
from tests.zone_edit import SHORT
from tests.zone_edit import short_imaps_port

TB = "/mail/config-v1.1.xml"


def test_thunderbird_answer_is_public_with_a_strong_etag(client: FlaskClient) -> None:
    """The placeholder document is cacheable by anyone for the remaining TTL (<= 60 s for
    example.test, whose absent labels carry a 60 s negative TTL) and has a strong ETag."""
    response = client.get(
        TB,
        query_string={"emailaddress": "alice@example.test"},
        headers={"Host": "autoconfig.example.test"},
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] in {"public, max-age=60", "public, max-age=59"}
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


@pytest.mark.parametrize(
    ("host", "address", "policy"),
    [
        # The Host names the domain the answer is for: any shared cache may keep it.
        ("autoconfig.example.test", "alice@example.test", "public"),
        ("example.test", "alice@example.test", "public"),
        ("autoconfig.example.test", None, "public"),
        # Another domain's address (a hoster's name asked about a customer's domain): a
        # shared cache keyed without the query must not keep it (issue 12 item 2).
        ("autoconfig.example.test", "x@pop.example.test", "private"),
        ("autoconfig.pop.example.test", "alice@example.test", "private"),
        ("autoconfig.example.test", "bob@alias.test", "private"),
        ("127.0.0.1", "alice@example.test", "private"),
    ],
)
def test_shared_caches_only_for_the_hosts_own_domain(
    client: FlaskClient, host: str, address: str | None, policy: str
) -> None:
    """``public`` only when the address's domain is the Host's; otherwise ``private``
    with the same lifetime (the asking client may still keep it)."""
    query = {"emailaddress": address} if address else {}
    response = client.get(TB, query_string=query, headers={"Host": host})
    assert response.status_code == 200
    assert response.headers["Cache-Control"].startswith(f"{policy}, max-age=")


@pytest.mark.parametrize(
    ("host", "address", "domain"),
    [
        ("autoconfig.example.test", "alice@example.test", "example.test"),
        ("autoconfig.example.test", None, "example.test"),
        ("autodiscover.pop.example.test", None, "pop.example.test"),
        ("autoconfig.example.test", "x@POP.Example.Test.", "pop.example.test"),
        # The alias is answered with its primary's settings, confirmed as asked.
        ("autoconfig.example.test", "bob@alias.test", "alias.test"),
        ("autoconfig.example.test", "x@stra\u00dfe.example.test", "xn--strae-oqa.example.test"),
    ],
)
def test_answer_names_the_domain_it_was_made_for(
    client: FlaskClient, host: str, address: str | None, domain: str
) -> None:
    """The A-label of the mail domain the document answers, for the shipped nginx to
    compare with the domain it keys the answer on."""
    query = {"emailaddress": address} if address else {}
    response = client.get(TB, query_string=query, headers={"Host": host})
    assert response.status_code == 200
    assert response.headers[DOMAIN_HEADER] == domain


def test_every_cacheable_answer_names_its_domain(knot_app: Flask) -> None:
    """The bodiless POX GET and the DAV redirects carry the Host's domain as well; the
    per-user POX answer and errors carry none (nothing may store them)."""
    client = knot_app.test_client()
    host = {"Host": "autodiscover.example.test"}
    pox = client.get("/autodiscover/autodiscover.xml", headers=host)
    dav = client.get("/.well-known/caldav", headers={"Host": "alias.test"})
    per_user = client.get("/autodiscover/autodiscover.xml?Email=a@example.test", headers=host)
    missing = client.get("/.well-known/caldav", headers={"Host": "pop.example.test"})
    assert (pox.status_code, pox.headers[DOMAIN_HEADER]) == (200, "example.test")
    assert pox.headers["Cache-Control"].startswith("public, max-age=")
    assert (dav.status_code, dav.headers[DOMAIN_HEADER]) == (307, "alias.test")
    assert dav.headers["Cache-Control"].startswith("public, max-age=")
    for response in (per_user, missing):
        assert DOMAIN_HEADER not in response.headers
        assert "Expires" not in response.headers
        assert "no-store" in response.headers["Cache-Control"]


def test_expires_carries_the_max_age(running_knot: Knot) -> None:
    """``Expires`` is now + max-age in whole seconds, rounded down: the lifetime the
    shipped nginx stores an answer for, never longer than the app's own."""
    clock = FakeClock()
    client = create_app(
        config(nameservers=[running_knot.nameserver], timeout=1.0), clock=clock
    ).test_client()
    before = time.time()
    first = client.get(TB, headers={"Host": "autoconfig.example.test"})
    clock.advance(10)
    later = client.get(TB, headers={"Host": "autoconfig.example.test"})
    after = time.time()
    for response, max_age in ((first, 60), (later, 50)):
        assert response.headers["Cache-Control"] == f"public, max-age={max_age}"
        expires = parsedate_to_datetime(response.headers["Expires"]).timestamp()
        assert int(before) + max_age <= expires <= after + max_age


def test_answers_without_max_age_are_private(app: Flask) -> None:
    """The helper's contract for answers that echo the address: private, never stored,
    no validator even when the client sends If-None-Match."""
    with app.test_request_context(headers={"If-None-Match": "*"}):
        response = responses.xml(b"<x/>", responses.PER_USER, etag='"abc"')
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

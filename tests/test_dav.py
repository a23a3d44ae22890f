"""RFC 6764 CalDAV/CardDAV discovery: /.well-known/ redirects from SRV + TXT, against Knot."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from flask import Flask

from autoconf import create_app
from autoconf.config import settings_from_mapping
from autoconf.model import Question
from autoconf.model import RecordSource
from autoconf.model import RRset
from autoconf.sources import make_source
from tests.conftest import config
from tests.knot import Knot


class CountingSource:
    """The real record source, with every question it is asked written down."""

    def __init__(self, inner: RecordSource) -> None:
        self.inner = inner
        self.asked: list[Question] = []

    def ask(self, questions: Sequence[Question]) -> dict[Question, RRset]:
        self.asked.extend(questions)
        return self.inner.ask(questions)


@pytest.mark.parametrize(
    ("host", "service", "location"),
    [
        ("example.test", "caldav", "https://dav.example.test/dav/cal/"),
        ("example.test", "carddav", "https://dav.example.test/dav/card/"),
        # Clients reach the service under either discovery name, or the domain itself.
        ("autoconfig.example.test", "caldav", "https://dav.example.test/dav/cal/"),
        ("autodiscover.example.test:443", "carddav", "https://dav.example.test/dav/card/"),
        # An alias domain is served with its primary's records.
        ("alias.test", "caldav", "https://dav.example.test/dav/cal/"),
        # A non-default port is part of the URL; without a TXT path the client is sent to
        # the target's own well-known URI (RFC 6764 section 6).
        ("davport.example.test", "caldav", "https://dav.davport.example.test:8443/cal/"),
        (
            "davport.example.test",
            "carddav",
            "https://dav.davport.example.test:8443/.well-known/carddav",
        ),
        # DAV needs no mail service.
        ("davonly.example.test", "caldav", "https://dav.davonly.example.test/calendars/"),
        # A TXT path with CR/LF is ignored, never copied into the Location header.
        ("davbad.example.test", "caldav", "https://dav.davbad.example.test/.well-known/caldav"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "PROPFIND"])
def test_well_known_redirects_to_srv_url(
    knot_app: Flask, host: str, service: str, location: str, method: str
) -> None:
    """The well-known URI answers 307 to the SRV/TXT-derived context URL, for GET and for
    the PROPFIND DAV clients actually send, with a TTL-bounded public max-age."""
    response = knot_app.test_client().open(
        f"/.well-known/{service}", method=method, headers={"Host": host}
    )
    assert response.status_code == 307
    assert response.headers["Location"] == location
    # The smallest TTL of the answers: the zone's negative-caching TTL (SOA minimum, 60).
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert "WWW-Authenticate" not in response.headers


@pytest.mark.parametrize(
    ("host", "service"),
    [
        # Mail records only: nothing to redirect to.
        ("weights.example.test", "caldav"),
        ("weights.example.test", "carddav"),
        # Calendars but no address books.
        ("davonly.example.test", "carddav"),
        # The target would be this very URI: a loop, and RFC 6764 section 5 forbids it.
        ("davloop.example.test", "caldav"),
        # A Host that is no domain name: nothing is served there.
        ("[::1]:80", "caldav"),
    ],
)
def test_well_known_absent(knot_app: Flask, host: str, service: str) -> None:
    """Without a usable DAV record the answer is a bare 404."""
    response = knot_app.test_client().get(f"/.well-known/{service}", headers={"Host": host})
    assert response.status_code == 404
    assert response.data == b""
    assert "Location" not in response.headers


def test_well_known_unknown_domain_asks_no_dns(running_knot: Knot) -> None:
    """A Host that is not served costs zero DNS queries: refused by the Host check (400),
    or, when the operator trusts the name without serving it as a mail domain, 404; a
    served one asks the fixed question set."""
    mapping = config(nameservers=[running_knot.nameserver], timeout=1.0)
    mapping["http"] = {"trusted_hosts": ["autoconf.provider.test"]}
    settings = settings_from_mapping(mapping)
    source = CountingSource(make_source(settings.dns))
    client = create_app(settings, source=source).test_client()
    for host, status in [
        ("victim.example", 400),
        ("autoconfig.x.test", 400),
        ("dav.example.test", 400),
        ("autoconf.provider.test", 404),
    ]:
        response = client.get("/.well-known/caldav", headers={"Host": host})
        assert (host, response.status_code) == (host, status)
        assert "Location" not in response.headers
    assert source.asked == []
    assert client.get("/.well-known/caldav", headers={"Host": "example.test"}).status_code == 307
    assert len(source.asked) == 14


def test_well_known_dns_failure_is_503(knot_app: Flask) -> None:
    """SERVFAIL is not absence: 503 with Retry-After, not a 404 that clients would cache."""
    response = knot_app.test_client().get("/.well-known/caldav", headers={"Host": "broken.test"})
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize("service", ["caldav", "carddav"])
@pytest.mark.parametrize("method", ["GET", "PROPFIND"])
def test_trailing_slash_redirects_like_the_bare_name(
    knot_app: Flask, service: str, method: str
) -> None:
    """``/.well-known/caldav/`` (as some clients and proxies ask it) gets the same 307 as
    the bare name, not a 404 that ends the client's discovery."""
    client = knot_app.test_client()
    bare = client.open(f"/.well-known/{service}", method=method, headers={"Host": "example.test"})
    slash = client.open(f"/.well-known/{service}/", method=method, headers={"Host": "example.test"})
    assert slash.status_code == bare.status_code == 307
    assert slash.headers["Location"] == bare.headers["Location"]
    assert slash.headers["Location"].startswith("https://dav.example.test/dav/")


def test_trailing_slash_never_loops(knot_app: Flask) -> None:
    """A target that is this very URI is refused with or without the slash (RFC 6764
    section 5), never answered with a redirect to the other spelling of itself."""
    client = knot_app.test_client()
    for path in ("/.well-known/caldav", "/.well-known/caldav/"):
        response = client.get(path, headers={"Host": "davloop.example.test"})
        assert (path, response.status_code) == (path, 404)


@pytest.mark.parametrize("path", ["/.well-known/webdav", "/.well-known/caldav/principals/"])
def test_only_the_two_well_known_names(knot_app: Flask, path: str) -> None:
    """Only the two RFC 6764 names redirect."""
    response = knot_app.test_client().get(path, headers={"Host": "example.test"})
    assert response.status_code == 404

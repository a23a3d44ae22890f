"""Property tests (hypothesis): every input surface either works or fails cleanly."""

from __future__ import annotations

import string

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from lxml import etree
from werkzeug.test import EnvironBuilder
from werkzeug.test import run_wsgi_app

from autoconf.address import parse_address
from autoconf.address import parse_domain
from autoconf.discovery import DomainProfile
from autoconf.discovery import TrustPolicy
from autoconf.discovery import derive
from autoconf.discovery import questions
from autoconf.errors import AutoconfError
from autoconf.errors import InvalidAddressError
from autoconf.model import RRset
from autoconf.model import SrvRecord
from autoconf.model import Status

FIXTURES = [HealthCheck.function_scoped_fixture]
hostile = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
addressish = st.builds(
    lambda local, domain: f"{local}@{domain}",
    st.text(alphabet=string.printable + "äöüß€<>&\"'", max_size=80),
    st.sampled_from(
        [
            "example.test",
            "EXAMPLE.TEST.",
            "alias.test",
            "unknown.test",
            "straße.example.test",
            "xn--strae-oqa.example.test",
            "[127.0.0.1]",
            "exa mple.test",
            "",
        ]
    ),
)


@given(st.one_of(hostile, addressish))
def test_parse_address_total(text: str) -> None:
    """Any text gives a normalised Address or InvalidAddressError, nothing else."""
    try:
        address = parse_address(text)
    except InvalidAddressError:
        return
    assert address.domain == address.domain.lower()
    assert address.domain.isascii() and not address.domain.endswith(".")
    assert parse_domain(address.domain) == address.domain  # idempotent
    assert len(address.local_part.encode()) <= 64
    assert parse_address(str(address)) == address


@given(hostile)
def test_parse_domain_total(text: str) -> None:
    """Domains normalise idempotently or raise the typed error."""
    try:
        domain = parse_domain(text)
    except InvalidAddressError:
        return
    assert parse_domain(domain) == domain and len(domain) <= 255


srv_records = st.lists(
    st.builds(
        SrvRecord,
        priority=st.integers(0, 65535),
        weight=st.integers(0, 65535),
        port=st.integers(0, 65535),
        target=st.sampled_from(
            [
                "",
                "mail.example.com",
                "b.example.com",
                "example.com",
                "evil.test",
                "example.com.evil.test",
            ]
        ),
    ),
    max_size=6,
)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "_imaps",
                "_imap",
                "_pop3s",
                "_pop3",
                "_submissions",
                "_submission",
                "_caldavs",
                "_carddav",
            ]
        ),
        srv_records,
    ),
    st.randoms(),
)
def test_derive_invariants(labels: dict[str, list[SrvRecord]], rng: object) -> None:
    """Whatever DNS says: no '.', no port 0, no untrusted target, order independent of
    record order, and every record is either served or reported as dropped."""
    import random

    assert isinstance(rng, random.Random)

    def answers(shuffle: bool) -> dict[tuple[str, str], RRset]:
        result = {}
        for name, rdtype in questions("example.com"):
            records = list(labels.get(name.split(".")[0], [])) if rdtype == "SRV" else []
            if shuffle:
                rng.shuffle(records)
            status = Status.ANSWER if records else Status.NXDOMAIN
            result[(name, rdtype)] = RRset(
                name=name, rdtype=rdtype, status=status, ttl=60, srv=tuple(records)
            )
        return result

    profile = DomainProfile(display_name="x")
    first = derive("example.com", answers(False), profile, TrustPolicy())
    second = derive("example.com", answers(True), profile, TrustPolicy())
    assert first.servers == second.servers
    served = [s for servers in first.servers.values() for s in servers]
    for server in served:
        assert server.host and server.port
        assert server.host == "example.com" or server.host.endswith(".example.com")
    assert len(served) + len(first.dropped) == sum(len(v) for v in labels.values())


@settings(suppress_health_check=FIXTURES, max_examples=150)
@given(
    st.one_of(hostile, addressish),
    st.sampled_from(["/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml"]),
)
def test_thunderbird_endpoint_total(client: FlaskClient, value: str, path: str) -> None:
    """Any emailaddress value: 200 with a well-formed document, or a clean 400/404."""
    response = client.get(path, query_string={"emailaddress": value})
    assert response.status_code in {200, 400, 404}
    assert b"Traceback" not in response.data
    if response.status_code == 200:
        etree.fromstring(response.data)


def _error_classes(base: type[AutoconfError]) -> list[type[AutoconfError]]:
    return [base, *(c for sub in base.__subclasses__() for c in _error_classes(sub))]


#: Every body a plain-text error can have: empty (404) or a class's public message.
FIXED_ERROR_BODIES = {b""} | {
    f"{c.public_message}\n".encode() for c in _error_classes(AutoconfError)
}


@settings(suppress_health_check=FIXTURES, max_examples=150)
@given(st.text(alphabet=string.printable.strip() + " ", max_size=120))
def test_host_header_total(app: Flask, host: str) -> None:
    """Any Host header: never a 5xx, never an echo."""
    status, body = _get_with_host(app, "/mail/config-v1.1.xml", host)
    assert status in {200, 400, 404}
    if status != 200:
        # Error bodies are fixed texts ("Unknown host" would contain the Host "host").
        assert body in FIXED_ERROR_BODIES


def _get_with_host(app: Flask, path: str, host: str) -> tuple[int, bytes]:
    """GET ``path`` with this Host, straight through the WSGI app: the test client rebuilds
    the request URL after the app answered and decodes the host with Python's IDNA 2003
    codec, which raises on names such as ``xn--`` (the app itself answers those 400)."""
    environ = EnvironBuilder(path=path, headers={"Host": host}).get_environ()
    body, status, _ = run_wsgi_app(app.wsgi_app, environ, buffered=True)
    return int(status.split()[0]), b"".join(body)


@settings(suppress_health_check=FIXTURES, max_examples=100)
@given(st.lists(st.tuples(st.text(max_size=20), st.text(max_size=60)), max_size=6))
def test_query_strings_total(client: FlaskClient, pairs: list[tuple[str, str]]) -> None:
    """Arbitrary query parameters (repeated, odd names, odd values) never break a view."""
    response = client.get(
        "/mail/config-v1.1.xml", query_string=pairs, headers={"Host": "autoconfig.example.test"}
    )
    assert response.status_code in {200, 400, 404}


@pytest.mark.parametrize("host", ["xn--", "XN--a.test", "autoconfig.xn--.example.test"])
def test_host_header_broken_a_labels(app: Flask, host: str) -> None:
    """Host names whose "xn--" labels are not A-labels: 400, never a 5xx."""
    status, body = _get_with_host(app, "/mail/config-v1.1.xml", host)
    assert status == 400
    assert body in FIXED_ERROR_BODIES

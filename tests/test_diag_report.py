"""The page's report from the settings cache, over the test zone file: what it keeps, what
it asks, and the generic DNS failure reasons strangers are told."""

from __future__ import annotations

import pytest
from flask import Flask
from lxml import html

from autoconf.diagnostics.report import public_reason
from autoconf.model import Provider
from autoconf.model import RRset
from autoconf.model import Status
from autoconf.service import Kept
from autoconf.service import KeptLoads
from autoconf.web.state import EXTENSION


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("timeout: no answer within 2 s", "timeout"),
        ("192.0.2.53 over TCP: The DNS operation timed out.", "timeout"),
        ("2001:db8::53 answered SERVFAIL", "server failure (SERVFAIL)"),
        ("127.0.0.1 answered REFUSED", "refused (REFUSED)"),
        (
            "_imaps._tcp.x.test. SRV: 10.0.0.1 answered SERVFAIL; _imap._tcp.x.test. SRV: "
            "timeout: no answer within 2 s",
            "timeout, server failure (SERVFAIL)",
        ),
        ("10.1.2.3: [Errno 101] Network is unreachable", "no usable answer"),
        ("10.1.2.3 answered NOTIMP", "no usable answer"),
    ],
)
def test_public_reason_is_generic(error: str, reason: str) -> None:
    """Only fixed phrases come out, whatever the record source wrote."""
    assert public_reason(error) == reason


def rrset(records: int) -> RRset:
    return RRset(name="x.", rdtype="TXT", status=Status.ANSWER, txt=("t",) * records)


def kept(records: int) -> Kept:
    return Kept(
        provider=Provider(domain="d", display_name="d"), answers={("x.", "TXT"): rrset(records)}
    )


def test_kept_loads_are_bounded_in_entries_and_records() -> None:
    """The oldest entries go first when there are too many, or too many records; the
    newest stays even when it alone is over the record bound."""
    loads = KeptLoads(max_entries=2, max_records=100)
    a, b, c = kept(9), kept(9), kept(9)
    loads.put("a", a)
    loads.put("b", b)
    loads.put("c", c)
    assert loads.get("a", a.provider).answers is None  # evicted: a fresh entry, no answers
    assert loads.get("c", c.provider) is c
    huge = kept(500)
    loads.put("huge", huge)
    assert loads.get("huge", huge.provider) is huge
    assert loads.get("c", c.provider) is not c


def test_kept_loads_match_by_provider_identity() -> None:
    """Another load's provider never gets this load's answers, and asking for an older
    provider does not displace the newer load's entry."""
    loads = KeptLoads()
    old, new = kept(1), kept(1)
    loads.put("d", new)
    assert loads.get("d", old.provider).answers is None
    assert loads.get("d", new.provider) is new


def test_lint_is_asked_once_per_load(app: Flask) -> None:
    """The first view asks the fixed set and the lint questions, the second nothing."""
    source = app.extensions[EXTENSION].discoverer.source
    client = app.test_client()
    before = source.queries_sent
    assert client.get("/?address=cname.example.test").status_code == 200
    first = source.queries_sent - before
    assert first == 14 + 1 + 2  # one target, two lint labels
    assert client.get("/?address=cname.example.test").status_code == 200
    assert source.queries_sent - before == first


def test_answers_no_longer_kept_are_said_so(app: Flask) -> None:
    """When the load's answers were evicted, the page still shows the cached settings,
    decisions and findings, says the raw answers are not kept, and asks no DNS for them."""
    discoverer = app.extensions[EXTENSION].discoverer
    client = app.test_client()
    assert client.get("/mail/config-v1.1.xml?emailaddress=a@example.test").status_code == 200
    discoverer.kept_loads = KeptLoads()  # as if 64 other loads had pushed it out
    before = discoverer.source.queries_sent
    response = client.get("/?address=example.test")
    assert response.status_code == 200
    doc = html.fromstring(response.get_data(as_text=True))
    assert doc.xpath("//*[@id='answers-not-kept']")
    names = [td.text_content() for td in doc.xpath("//table[@id='records']/tbody/tr/td[1]")]
    assert "_imaps._tcp.example.test." not in names
    assert "_autodiscover._tcp.example.test." in names  # the lint answers
    assert doc.xpath("//table[@id='trust']/tbody/tr")
    assert discoverer.source.queries_sent - before == 3 + 2  # lint only

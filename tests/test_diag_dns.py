"""What the diagnostics page costs in DNS and what it shows of DNS failures, against real
DNS: questions counted by Knot for a domain with hundreds of SRV targets, generic failure
reasons instead of resolver addresses, and page views that cannot starve the client
endpoints of a real gunicorn while the resolver is black-holed.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from lxml import html

from autoconf import create_app
from autoconf.cli import main
from autoconf.diagnostics.checks import LINT_LABELS
from autoconf.diagnostics.checks import PAGE_TARGET_CHECKS
from autoconf.discovery import questions
from autoconf.web.diag import BUSY
from autoconf.web.diag import MAX_CONCURRENT_VIEWS
from autoconf.web.diag import SLOTS
from autoconf.web.state import EXTENSION
from tests.conftest import DOMAINS
from tests.conftest import config
from tests.knot import Knot
from tests.servers import gunicorn
from tests.servers import to_toml

MANY = "many.test"
#: SRV records per label of MANY: 600 distinct targets, far over one UDP answer (TCP).
PER_LABEL = 300
#: Every question a first view of a served domain may cost: the fixed set through the
#: settings cache, then the capped lint questions.
PAGE_BUDGET = len(questions(MANY)) + PAGE_TARGET_CHECKS + len(LINT_LABELS)


def texts(doc: html.HtmlElement, xpath: str) -> list[str]:
    return [" ".join(node.text_content().split()) for node in doc.xpath(xpath)]


def many_zone() -> str:
    records = [f"_imaps._tcp SRV 0 1 993 imap{i:03d}.{MANY}." for i in range(PER_LABEL)]
    records += [f"_submissions._tcp SRV 0 1 465 smtp{i:03d}.{MANY}." for i in range(PER_LABEL)]
    head = f"$ORIGIN {MANY}.\n$TTL 300\n@ SOA ns.{MANY}. h.{MANY}. 1 3600 600 86400 60\n"
    return head + f"@ NS ns.{MANY}.\nns A 127.0.0.1\n" + "\n".join(records) + "\n"


@pytest.fixture(name="many_knot", scope="module")
def fixture_many_knot(knot: Knot, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Knot]:
    """A Knot of its own (so its counters are this module's alone) serving the test zones
    plus MANY: 600 SRV targets. ``knot`` only brings the session's skip-or-fail rule."""
    server = Knot(tmp_path_factory.mktemp("many-knot"))
    (server.zones / f"{MANY}.zone").write_text(many_zone())
    with server.config.open("a") as conf:
        conf.write(f"  - domain: {MANY}\n")
    server.start()
    yield server
    server.stop()


def many_app(knot: Knot) -> Flask:
    mapping = config(nameservers=[knot.nameserver], timeout=2.0)
    mapping["domains"] = {**DOMAINS, MANY: {}}
    return create_app(mapping)


def udp_and_all(knot: Knot) -> tuple[int, int]:
    """(UDP requests, requests over any transport) Knot has received so far."""
    stats = knot.stats()
    return stats.get("request-protocol[udp4]", 0), knot.queries()


def test_hundreds_of_targets_cost_a_bounded_view(many_knot: Knot) -> None:
    """A domain with 600 SRV targets: the first view asks Knot the fixed question set
    plus at most PAGE_TARGET_CHECKS target CNAMEs and the lint labels (24 questions; the
    two 300-record answers are truncated and asked again over TCP), says which targets
    were not checked, and a second view while the settings are fresh asks nothing.
    (Before: 616 questions per view, every view.)"""
    client = many_app(many_knot).test_client()
    udp0, all0 = udp_and_all(many_knot)
    first = client.get(f"/?address=alice@{MANY}")
    udp1, all1 = udp_and_all(many_knot)
    assert first.status_code == 200
    assert udp1 - udp0 <= PAGE_BUDGET == 24, udp1 - udp0
    assert all1 - all0 <= PAGE_BUDGET + 2, all1 - all0  # + the two TCP retries
    doc = html.fromstring(first.get_data(as_text=True))
    (unchecked,) = texts(doc, "//ul[@id='findings']/li[code='targets-not-checked']")
    assert f"{2 * PER_LABEL - PAGE_TARGET_CHECKS} of {2 * PER_LABEL} SRV targets" in unchecked
    assert f"imap{PAGE_TARGET_CHECKS:03d}.{MANY}" in unchecked  # the first one not asked
    records = texts(doc, "//table[@id='records']/tbody/tr/td[1]")
    cnames = [name for name in records if name.startswith(("imap", "smtp"))]
    assert len(cnames) == PAGE_TARGET_CHECKS
    assert len(texts(doc, "//table[@id='trust']/tbody/tr")) == 2 * PER_LABEL

    second = client.get(f"/?address={MANY}")
    assert second.status_code == 200
    assert udp_and_all(many_knot) == (udp1, all1)
    # Clients read the same cache entry: no question either.
    assert client.get(f"/mail/config-v1.1.xml?emailaddress=a@{MANY}").status_code == 200
    assert udp_and_all(many_knot) == (udp1, all1)


def test_page_after_a_client_asks_only_the_lint_questions(many_knot: Knot) -> None:
    """Settings a client request loaded are what the page shows, with that load's
    answers: the view adds only the lint questions, once."""
    client = many_app(many_knot).test_client()
    assert client.get("/mail/config-v1.1.xml?emailaddress=a@example.test").status_code == 200
    before = many_knot.queries()
    response = client.get("/?address=example.test")
    assert response.status_code == 200
    lint = len({"mail.example.test", "pop.example.test", "dav.example.test"}) + 2
    assert many_knot.queries() - before == lint
    doc = html.fromstring(response.get_data(as_text=True))
    records = texts(doc, "//table[@id='records']/tbody/tr/td[1]")
    assert "_imaps._tcp.example.test." in records
    client.get("/?address=example.test")
    assert many_knot.queries() - before == lint


# --- item 8: no resolver address on the public page -----------------------------------------


def test_dns_errors_on_the_page_name_no_resolver(running_knot: Knot, tmp_path: Path) -> None:
    """Knot answers REFUSED for the lint questions about hosted.example.test's targets
    (provider.test is not its zone) and SERVFAIL for broken.test: the page says "refused" /
    "server failure", never the resolver's address or port; `mail-autoconf check` (the admin)
    still prints the details."""
    app = create_app(config(nameservers=[running_knot.nameserver], timeout=1.0))
    client = app.test_client()
    resolver = (running_knot.address, str(running_knot.port))
    hosted = client.get("/?address=hosted.example.test")
    assert hosted.status_code == 200
    body = hosted.get_data(as_text=True)
    doc = html.fromstring(body)
    rows = {
        r[0]: r[-1]
        for r in (
            [" ".join(td.text_content().split()) for td in tr.xpath("td")]
            for tr in doc.xpath("//table[@id='records']/tbody/tr")
        )
    }
    assert rows["imap.provider.test."] == "refused (REFUSED)"
    broken = client.get("/?address=broken.test")
    assert broken.status_code == 503
    for page in (body, broken.get_data(as_text=True)):
        assert not any(part in page for part in resolver), page
    assert "server failure (SERVFAIL)" in broken.get_data(as_text=True)

    conf = tmp_path / "autoconf.toml"
    conf.write_text(to_toml(config(nameservers=[running_knot.nameserver], timeout=1.0)))
    result = CliRunner().invoke(main, ["check", "--config", str(conf), "broken.test"])
    assert f"{running_knot.address} answered SERVFAIL" in result.output


# --- page views never starve the client endpoints ------------------------------------------


class Relay:
    """A resolver stand-in in front of Knot: relays queries while open; once black-holed
    it drops them, noting each sender's port (one port per lookup: the record source
    asks all questions of a lookup from one socket)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.nameserver = f"127.0.0.1:{self._sock.getsockname()[1]}"
        self.black_holed = threading.Event()
        self.dropped_from: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Relay:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            if self.black_holed.is_set():
                self.dropped_from.add(sender[1])
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
                upstream.settimeout(1)
                upstream.sendto(data, self._upstream)
                try:
                    self._sock.sendto(upstream.recv(65535), sender)
                except TimeoutError:
                    continue


@pytest.mark.gunicorn
def test_page_views_cannot_starve_clients(running_knot: Knot, tmp_path: Path) -> None:
    """A real gunicorn (1 worker x 4 threads) with Thunderbird's answer for example.test
    cached, then the resolver black-holed: eight page views at once (their domains need
    DNS) get one view waiting on DNS and seven immediate 503s with Retry-After; only one
    lookup reaches the black hole; and Thunderbird requests made meanwhile are all
    answered (200) while that view is still waiting: none waited for a page's DNS.
    (Before: four views held all four threads, Thunderbird waited a DNS timeout.)"""
    domains = [d for d in DOMAINS if d not in ("broken.test",)][:8]
    events: list[tuple[str, int, bool]] = []
    lock = threading.Lock()
    with Relay((running_knot.address, running_knot.port)) as relay:
        mapping: dict[str, Any] = config(nameservers=[relay.nameserver], timeout=3.0)
        with gunicorn(mapping, tmp_path) as server:
            tb = "/mail/config-v1.1.xml?emailaddress=alice@example.test"
            assert server.get(tb)[0] == 200
            relay.black_holed.set()

            def view(domain: str) -> None:
                status, headers, body = server.get(f"/?address={domain}")
                busy = BUSY in body.decode()
                assert not busy or (status, headers["Retry-After"]) == (503, "2")
                with lock:
                    events.append(("page", status, busy))

            viewers = [threading.Thread(target=view, args=(d,)) for d in domains]
            for thread in viewers:
                thread.start()
            deadline = time.monotonic() + 10
            while not relay.dropped_from and time.monotonic() < deadline:
                time.sleep(0.01)
            assert relay.dropped_from, "no page view reached the resolver"
            for _ in range(10):
                status, _, _ = server.get(tb)
                with lock:
                    events.append(("tb", status, False))
            for thread in viewers:
                thread.join(30)
    pages = [e for e in events if e[0] == "page"]
    assert len(pages) == 8
    assert sum(busy for _, _, busy in pages) == 8 - MAX_CONCURRENT_VIEWS, events
    assert len(relay.dropped_from) == MAX_CONCURRENT_VIEWS, relay.dropped_from
    assert [status for kind, status, _ in events if kind == "tb"] == [200] * 10
    waited = [i for i, (kind, _, busy) in enumerate(events) if kind == "page" and not busy]
    answered = [i for i, (kind, _, _) in enumerate(events) if kind == "tb"]
    assert max(answered) < min(waited), events


def test_busy_page_is_refused_at_once(app: Flask) -> None:
    """While a view holds the worker's slot, another diagnosis is a 503 with Retry-After
    that asks DNS nothing; the empty form and unserved domains (no DNS) still answer."""
    client = app.test_client()
    slots = app.extensions[SLOTS]
    source = app.extensions[EXTENSION].discoverer.source
    before = source.queries_sent
    assert slots.acquire(blocking=False)
    try:
        busy = client.get("/?address=alice@example.test")
        assert (busy.status_code, busy.headers["Retry-After"]) == (503, "2")
        assert BUSY in busy.get_data(as_text=True)
        assert source.queries_sent == before
        assert client.get("/").status_code == 200
        assert client.get("/?address=elsewhere.example").status_code == 404
        assert client.get("/mail/config-v1.1.xml?emailaddress=a@example.test").status_code == 200
    finally:
        slots.release()
    assert client.get("/?address=alice@example.test").status_code == 200

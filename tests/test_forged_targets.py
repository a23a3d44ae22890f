"""SRV targets that are not host names never reach a client (issue 12, item 1).

A DNS label may hold any octet. ``evil.org/.forged.example.test`` is a name inside
``forged.example.test``, but put into ``https://{host}/`` it is a URL at ``evil.org``, and a
client would send its Basic credentials there. Every consumer of a target is checked here,
over real DNS: Knot serving tests/zones/example.test.zone (forged.example.test), and a
hand-written server for what Knot will not serve (mixed case, a forged AD bit).
"""

from __future__ import annotations

import json
import plistlib
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from lxml import html

from autoconf import create_app
from autoconf.cli import main
from tests.conftest import ZONE_FILE
from tests.hostile_dns import HostileDns
from tests.hostile_dns import rcode_reply
from tests.hostile_dns import srv_reply
from tests.knot import Knot
from tests.pox import OUTLOOK_NS
from tests.pox import POX_PATH
from tests.pox import XML
from tests.pox import outlook_body
from tests.pox import parse
from tests.pox import texts
from tests.servers import to_toml

FORGED = "forged.example.test"
#: What every forged target of the zone contains (and no real one does).
EVIL = b"evil"
#: The forged records in the zone: nine _imaps, one each of _submissions, _caldavs and
#: _carddavs.
FORGED_RECORDS = 12


def every_document(client: FlaskClient, domain: str) -> dict[str, bytes]:
    """The body of every answer that carries a target: the DAV redirects' Location, the
    Thunderbird document, POX, the Apple profile and the diagnostics page's served parts."""
    host = {"Host": domain}
    address = f"alice@{domain}"
    caldav = client.get("/.well-known/caldav", headers=host)
    carddav = client.get("/.well-known/carddav", headers=host)
    thunderbird = client.get(f"/mail/config-v1.1.xml?emailaddress={address}", headers=host)
    pox = client.post(POX_PATH, data=outlook_body(address), content_type=XML, headers=host)
    profile = client.get(f"/mobileconfig?emailaddress={address}", headers=host)
    for response in (thunderbird, pox, profile):
        assert response.status_code == 200, response.data
    return {
        "caldav": f"{caldav.status_code} {caldav.headers.get('Location', '')}".encode(),
        "carddav": f"{carddav.status_code} {carddav.headers.get('Location', '')}".encode(),
        "thunderbird": thunderbird.data,
        "pox": pox.data,
        "profile": profile.data,
    }


def test_forged_targets_reach_no_client(knot_app: Flask) -> None:
    """Knot serves targets with "/", "#", "?", "@", ":", an inner ".", NUL, a non-ASCII
    octet, "_", a fake A-label, a reserved "--" and a leading "-", all at a better priority
    than the real hosts: no redirect, document or profile names any of them; the real
    hosts are served in their place."""
    documents = every_document(knot_app.test_client(), FORGED)
    for name, body in documents.items():
        assert EVIL not in body, (name, body)
    assert documents["caldav"] == b"307 https://dav.forged.example.test/cal/"
    # _carddavs has only a forged target: nothing to redirect to.
    assert documents["carddav"].startswith(b"404")
    root = etree.fromstring(documents["thunderbird"])
    assert root.xpath("//incomingServer/hostname/text()") == ["mail.forged.example.test"]
    assert root.xpath("//outgoingServer/hostname/text()") == ["mail.forged.example.test"]
    assert root.xpath("//calendar/url/text()") == ["https://dav.forged.example.test/cal/"]
    servers = texts(parse(documents["pox"]), "Response/Account/Protocol/Server", OUTLOOK_NS)
    assert set(servers) == {"mail.forged.example.test", "https://dav.forged.example.test/cal/"}
    profile = plistlib.loads(documents["profile"])
    hosts = {
        value
        for payload in profile["PayloadContent"]
        for key, value in payload.items()
        if key.endswith("HostName") or key.endswith("URL")
    }
    assert hosts == {
        "mail.forged.example.test",
        "dav.forged.example.test",
        "https://dav.forged.example.test/cal/",
    }


def test_diagnostics_page_shows_why_not_what(knot_app: Flask) -> None:
    """The page lists each forged record as dropped, with the reason; its settings table
    and the documents it renders never name a forged host."""
    response = knot_app.test_client().get("/", query_string={"address": f"alice@{FORGED}"})
    assert response.status_code == 200
    doc = html.fromstring(response.data)
    settings = " ".join(doc.xpath("//table[@id='settings']//text()"))
    documents = " ".join(doc.xpath("//section[@aria-labelledby='documents-heading']//text()"))
    assert "mail.forged.example.test" in settings
    assert "evil" not in settings and "evil" not in documents
    rows = [
        [" ".join(td.text_content().split()) for td in row.xpath("td")]
        for row in doc.xpath("//table[@id='trust']/tbody/tr")
    ]
    forged = [row for row in rows if "evil" in row[1]]
    assert len(forged) == FORGED_RECORDS
    assert all(row[2] == "dropped" and "not a host name" in row[3] for row in forged), forged
    findings = doc.xpath("//ul[@id='findings']/li/code/text()")
    assert "bad-target" in findings


def _check(config: str, target: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(main, ["check", "--json", "--config", config, target])
    return result.exit_code, json.loads(result.stdout)


def test_check_drops_forged_targets_with_the_reason(running_knot: Knot, tmp_path: Path) -> None:
    """``check`` serves none of them, lists each as dropped with why, flags the domain with
    an error finding per record and exits 1."""
    path = tmp_path / "autoconf.toml"
    path.write_text(
        to_toml({"dns": {"nameservers": [running_knot.nameserver]}, "domains": {FORGED: {}}})
    )
    code, report = _check(str(path), FORGED)
    assert code == 1
    served = json.dumps(report["servers"])
    assert "evil" not in served and "mail.forged.example.test" in served
    dropped = [d for d in report["dropped"] if "evil" in d["target"]]
    assert len(dropped) == FORGED_RECORDS
    assert all("not a host name" in d["reason"] for d in dropped), dropped
    # The escaped forms are shown as DNS presentation text, not as raw octets.
    assert "evil\\.org\\000.forged.example.test" in {d["target"] for d in dropped}
    bad = [f for f in report["findings"] if f["code"] == "bad-target"]
    assert len(bad) == FORGED_RECORDS and all(f["severity"] == "error" for f in bad)


# --- Past Knot: a hand-written server sends what an attacker on the path can ----------

HOSTILE = "hostile.test"


def _hostile(query: dns.message.Message) -> dns.message.Message:
    """Every reply carries a forged AD bit. The forged targets are mixed case (Knot
    lower-cases SRV targets, an attacker does not) and would sort first."""
    name = query.question[0].name.to_text()
    if name == f"_imaps._tcp.{HOSTILE}.":
        return srv_reply(
            query,
            [
                (0, 1, 993, (b"EVIL", b"ORG/", b"Hostile", b"TEST")),
                (0, 1, 993, (b"evil", b"org:993", b"hostile", b"test")),
                (10, 1, 993, (b"MAIL", b"Hostile", b"Test")),
            ],
            authenticated=True,
        )
    if name == f"_submissions._tcp.{HOSTILE}.":
        return srv_reply(
            query,
            [
                (0, 1, 465, (b"evil.org", b"hostile", b"test")),
                (10, 1, 465, (b"mail", b"hostile", b"test")),
            ],
            authenticated=True,
        )
    if name == f"_caldavs._tcp.{HOSTILE}." and query.question[0].rdtype == dns.rdatatype.SRV:
        return srv_reply(
            query, [(0, 1, 443, (b"evil", b"org/", b"HOSTILE", b"test"))], authenticated=True
        )
    return rcode_reply(query, dns.rcode.NXDOMAIN)


@pytest.mark.parametrize("dnssec", [False, True])
def test_forged_targets_on_the_wire(dnssec: bool) -> None:
    """Through LiveSource's sockets: targets that are not host names are dropped even when
    the answer carries AD and ``dns.dnssec = true`` accepts out-of-domain targets; a
    mixed-case real host is served, in lower case."""
    with HostileDns(_hostile) as server:
        app = create_app(
            {
                "dns": {"nameservers": [server.nameserver], "timeout": 1.0, "dnssec": dnssec},
                "domains": {HOSTILE: {}},
            }
        )
        documents = every_document(app.test_client(), HOSTILE)
    for name, body in documents.items():
        assert EVIL not in body.lower(), (name, body)
    assert documents["caldav"].startswith(b"404")
    root = etree.fromstring(documents["thunderbird"])
    assert root.xpath("//incomingServer/hostname/text()") == ["mail.hostile.test"]
    assert root.xpath("//outgoingServer/hostname/text()") == ["mail.hostile.test"]


def test_check_from_a_zone_file_names_the_suffix_setting(tmp_path: Path) -> None:
    """Zone-file answers count as authenticated; an out-of-domain target there is refused
    with the fix that applies (issue 13): dns.trusted_target_suffixes, not "DNSSEC"."""
    path = tmp_path / "autoconf.toml"
    dns_table = {"zone_files": [str(ZONE_FILE)]}
    path.write_text(to_toml({"dns": dns_table, "domains": {"evil.example.test": {}}}))
    code, report = _check(str(path), "evil.example.test")
    assert code == 1
    reasons = [d["reason"] for d in report["dropped"]]
    assert len(reasons) == 2
    assert all("dns.trusted_target_suffixes" in r for r in reasons), reasons
    assert not any("DNSSEC-validated" in r for r in reasons)

"""``mail-autoconf check --probe`` against the lab's real servers (Dovecot, Postfix,
Radicale behind nginx): every server of every served variant passes, resolved through
the lab's validating resolver and verified against the lab CA."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.lab.lab import Lab
from tests.lab.mailservers import MailServers
from tests.lab.variants import SERVED
from tests.lab.variants import Variant
from tests.servers import ROOT
from tests.servers import to_toml

pytestmark = pytest.mark.lab


def probe(lab: Lab, *args: str) -> tuple[int, str]:
    done = lab.ns.run(
        sys.executable, "-m", "autoconf", "check", "--probe", "--cafile", str(lab.ca_pem),
        "--config", str(lab.workdir / "autoconf.toml"), "--timeout", "10", *args,
        timeout=180, cwd=ROOT,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("variant", SERVED, ids=[v.domain for v in SERVED])
def test_probe_passes_on_the_real_servers(lab: Lab, mail: MailServers, variant: Variant) -> None:
    """Each server clients are told about answers as advertised: TLS (implicit or after
    STARTTLS), a certificate for the SRV target from the lab CA, AUTH only after TLS, and
    DAV at the TXT paths."""
    code, output = probe(lab, "--json", variant.domain)
    assert code == 0, output + mail.logs()
    data = json.loads(output)
    told = {(p["protocol"], p["host"], p["port"], p["security"]) for p in data["probes"]}
    expected = {
        (e.protocol, e.host, e.port, e.security) for e in (*variant.incoming, *variant.outgoing)
    }
    assert expected <= told
    for result in data["probes"]:
        codes = {f["code"] for f in result["findings"]}
        assert "cert-valid" in codes, result
        assert "dav-ok" in codes or "auth-offered" in codes, result
        if result["security"] == "starttls":
            assert not any("PLAIN" in c for c in result["capabilities_before_tls"]), result


def test_probe_text_output_on_the_dav_variant(lab: Lab, mail: MailServers) -> None:
    """The text form names each server with what it showed; DAV through the TXT paths."""
    code, output = probe(lab, "dav.lab.test")
    assert code == 0, output
    assert output.rstrip().endswith("ALL SERVERS OK")
    for path in ("/dav/calendars/", "/dav/contacts/"):
        assert f"OPTIONS https://mail.dav.lab.test{path} -> 200" in output
        assert f"PROPFIND https://mail.dav.lab.test{path} -> 401" in output


#: Records that point at the lab's real servers the wrong way: each the commonest field
#: fault, a port that does not do what the record advertises.
WRONG_ZONE = """\
$ORIGIN wrong.lab.test.
$TTL 300
@ SOA ns.lab.test. hostmaster.lab.test. 1 3600 600 86400 60
@ NS ns.lab.test.
; implicit TLS advertised on Dovecot's STARTTLS port: the server greets in clear
_imaps._tcp SRV 0 1 143 imap.lab.test.
; POP3S on a port where nothing listens
_pop3s._tcp SRV 0 1 996 imap.lab.test.
; implicit TLS advertised on Postfix's STARTTLS port
_submissions._tcp SRV 0 1 587 smtp.lab.test.
; CalDAV at a path of the autoconfig host, which is no DAV server
_caldavs._tcp SRV 0 1 443 autoconfig.lab.test.
_caldavs._tcp TXT "path=/dav/"
"""


def test_probe_names_each_wrong_port_on_the_real_servers(
    lab: Lab, mail: MailServers, tmp_path: Path
) -> None:
    """Records from a zone file aimed at the real Dovecot, Postfix and nginx the wrong way:
    every server gets its own finding, and the exit status is 1."""
    zone = tmp_path / "wrong.lab.test.zone"
    zone.write_text(WRONG_ZONE)
    config = tmp_path / "wrong.toml"
    config.write_text(
        to_toml(
            {
                "dns": {
                    "zone_files": [str(zone)],
                    "nameservers": ["127.0.0.1"],
                    "trusted_target_suffixes": ["lab.test"],
                },
                "domains": {"wrong.lab.test": {}},
            }
        )
    )
    done = lab.ns.run(
        sys.executable, "-m", "autoconf", "check", "--probe", "--json", "--cafile",
        str(lab.ca_pem), "--config", str(config), "--timeout", "5", "wrong.lab.test",
        timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    probes = {
        (p["protocol"], p["port"]): [f["code"] for f in p["findings"] if f["severity"] == "error"]
        for p in json.loads(done.stdout)["probes"]
    }
    assert probes == {
        ("imap", 143): ["tls-failed"],
        ("pop3", 996): ["connect-failed"],
        ("smtp", 587): ["tls-failed"],
        ("caldav", 443): ["dav-not-dav", "dav-no-dav-header"],
    }, done.stdout

"""``mail-autoconf check --probe`` against the lab's real servers (Dovecot, Postfix,
Radicale behind nginx): every server of every served variant passes, resolved through
the lab's validating resolver and verified against the lab CA."""

from __future__ import annotations

import json
import sys

import pytest

from tests.lab.lab import Lab
from tests.lab.mailservers import MailServers
from tests.lab.variants import SERVED
from tests.lab.variants import Variant
from tests.servers import ROOT

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

"""``mail-autoconf check`` and ``mail-autoconf zone`` cover the RFC 6764 CalDAV/CardDAV records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dns.rdatatype
import dns.zone
import pytest
from click.testing import CliRunner

from autoconf.cli import main
from autoconf.model import Protocol
from tests.conftest import DOMAINS
from tests.knot import Knot
from tests.published import provider_from_records


def _config(tmp_path: Path, knot: Knot) -> Path:
    """A TOML configuration serving the test domains from the Knot server."""
    tables = [f'[dns]\nnameservers = ["{knot.nameserver}"]\ntimeout = 1.0']
    tables += [f'[domains."{domain}"]' for domain in DOMAINS]
    path = tmp_path / "autoconf.toml"
    path.write_text("\n".join(tables) + "\n")
    return path


def _check(tmp_path: Path, knot: Knot, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", "--config", str(_config(tmp_path, knot)), *args])
    return result.exit_code, result.output


def _report(tmp_path: Path, knot: Knot, domain: str) -> dict[str, Any]:
    code, output = _check(tmp_path, knot, "--json", domain)
    report: dict[str, Any] = json.loads(output)
    assert code == (0 if report["ok"] else 1)
    return report


def test_check_lists_dav_servers_and_records(tmp_path: Path, running_knot: Knot) -> None:
    """example.test: both DAV servers with their URLs, and the SRV and TXT records seen."""
    report = _report(tmp_path, running_knot, "example.test")
    dav = {s["protocol"]: s for s in report["servers"] if s["protocol"].endswith("dav")}
    assert dav["caldav"]["url"] == "https://dav.example.test/dav/cal/"
    assert dav["carddav"]["url"] == "https://dav.example.test/dav/card/"
    assert dav["caldav"]["label"] == "_caldavs"
    records = {(r["name"], r["type"]): r for r in report["records"]}
    assert records[("_caldavs._tcp.example.test.", "SRV")]["data"] == ["0 1 443 dav.example.test."]
    assert records[("_carddavs._tcp.example.test.", "TXT")]["data"] == ['"path=/dav/card/"']
    assert records[("_caldav._tcp.example.test.", "SRV")]["status"] == "nxdomain"
    assert not [f for f in report["findings"] if f["code"].startswith("dav-")]
    assert report["ok"]


@pytest.mark.parametrize(
    ("domain", "code", "severity"),
    [
        ("davport.example.test", "dav-no-path", "info"),
        ("davbad.example.test", "dav-bad-path", "warning"),
        ("davbad.example.test", "dav-no-path", "info"),
    ],
)
def test_check_dav_findings(
    tmp_path: Path, running_knot: Knot, domain: str, code: str, severity: str
) -> None:
    """A missing TXT path is noted, an unusable one warned about (neither is an error)."""
    report = _report(tmp_path, running_knot, domain)
    found = [f for f in report["findings"] if f["code"] == code]
    assert [f["severity"] for f in found] == [severity]
    assert found[0]["reference"].startswith("RFC 6764")
    assert report["ok"]


def test_check_escapes_hostile_txt(tmp_path: Path, running_knot: Knot) -> None:
    """A TXT record with CR/LF is shown escaped, as in a zone file, never as raw lines."""
    code, output = _check(tmp_path, running_knot, "davbad.example.test")
    assert code == 0
    assert '"path=/x\\013\\010Location: https://evil.example/"' in output
    assert "\r" not in output
    assert not any(line.startswith("Location:") for line in output.splitlines())


def test_check_text_shows_dav_urls(tmp_path: Path, running_knot: Knot) -> None:
    """The human report lists DAV servers by URL, port and well-known fallback included."""
    code, output = _check(tmp_path, running_knot, "davport.example.test")
    assert code == 0
    assert "https://dav.davport.example.test:8443/cal/" in output
    assert "https://dav.davport.example.test:8443/.well-known/carddav" in output


def _zone(*args: str) -> str:
    result = CliRunner().invoke(main, ["zone", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_zone_publishes_dav_records() -> None:
    """--dav-host/--dav-path: _caldavs and _carddavs SRV on 443 plus TXT path= records."""
    text = _zone("example.org", "--dav-host", "dav.example.org", "--dav-path", "/groupware/")
    zone = dns.zone.from_text(text, origin="example.org.", relativize=False, check_origin=False)
    for label in ("_caldavs._tcp", "_carddavs._tcp"):
        (srv,) = zone.find_rdataset(f"{label}.example.org.", dns.rdatatype.SRV)
        assert (srv.port, srv.target.to_text()) == (443, "dav.example.org.")
        (txt,) = zone.find_rdataset(f"{label}.example.org.", dns.rdatatype.TXT)
        assert txt.strings == (b"path=/groupware/",)
    # Cleartext DAV is never published.
    assert zone.get_node("_caldav._tcp.example.org.") is None


def test_zone_without_dav_host_has_no_dav_records() -> None:
    """Without --dav-host nothing about DAV is published."""
    assert "dav" not in _zone("example.org").replace("autodiscover", "")


@pytest.mark.parametrize(
    "args",
    [
        ["--dav-host", "dav.example.org", "--dav-path", "groupware/"],
        ["--dav-host", "dav.example.org", "--dav-path", '/a" "b'],
        ["--dav-host", "dav.example.org", "--dav-path", "/a b"],
        ["--dav-host", "not a host"],
    ],
)
def test_zone_refuses_bad_dav_options(args: list[str]) -> None:
    """A path or host that would make a broken or misleading record is refused."""
    result = CliRunner().invoke(main, ["zone", "example.org", *args])
    assert result.exit_code == 2
    assert "Invalid value" in result.output


def test_zone_round_trip(tmp_path: Path) -> None:
    """What ``zone`` prints, once published, derives to the DAV URLs it promised."""
    records = _zone("example.org", "--dav-host", "dav.example.org", "--dav-path", "/dav/")
    provider = provider_from_records(tmp_path, "example.org", records)
    assert [s.url for s in provider.of(Protocol.CALDAV)] == ["https://dav.example.org/dav/"]
    assert [s.url for s in provider.of(Protocol.CARDDAV)] == ["https://dav.example.org/dav/"]
    assert provider.usable

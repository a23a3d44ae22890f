"""The autoconf command: check against real DNS, zone output, serve's config check."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from autoconf.cli import main
from tests.knot import Knot
from tests.servers import to_toml

DOMAINS = {
    "example.test": {"aliases": ["alias.test"]},
    "weights.example.test": {},
    "evil.example.test": {},
    "cname.example.test": {},
    "starttls.example.test": {},
    "broken.test": {},
}


def knot_config(knot: Knot, tmp_path: Path) -> str:
    path = tmp_path / "autoconf.toml"
    path.write_text(
        to_toml({"dns": {"nameservers": [knot.nameserver], "timeout": 1.0}, "domains": DOMAINS})
    )
    return str(path)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def check_json(config: str, target: str) -> tuple[int, dict[str, object]]:
    code, output = run("check", "--json", "--config", config, target)
    return code, json.loads(output)


def test_check_prints_ordered_settings(running_knot: Knot, tmp_path: Path) -> None:
    """check shows the settings in client order, as derived from Knot's records."""
    code, output = run(
        "check", "--config", knot_config(running_knot, tmp_path), "someone@weights.example.test"
    )
    assert code == 0, output
    lines = [line.split()[:2] for line in output.splitlines() if line.startswith("  imap")]
    assert lines == [
        ["imap", "heavy.weights.example.test:993"],
        ["imap", "light.weights.example.test:993"],
        ["imap", "starttls.weights.example.test:143"],
    ]
    assert "OK" in output.splitlines()[-1]


def test_check_json_records_and_findings(running_knot: Knot, tmp_path: Path) -> None:
    """--json lists every record seen; an alias reports its primary."""
    code, report = check_json(knot_config(running_knot, tmp_path), "alias.test")
    assert code == 0
    assert report["primary"] == "example.test" and report["served"] is True
    records = {(r["name"], r["type"]): r for r in report["records"]}  # type: ignore[union-attr,index]
    assert records[("_imaps._tcp.example.test.", "SRV")]["data"] == ["0 1 993 mail.example.test."]
    assert records[("_pop3._tcp.example.test.", "SRV")]["data"] == ["0 0 0 ."]
    assert records[("_smtps._tcp.example.test.", "SRV")]["status"] == "nxdomain"
    assert {d["label"] for d in report["dropped"]} == {"_imap", "_pop3"}  # type: ignore[union-attr,index]


def test_check_reports_dropped_targets(running_knot: Knot, tmp_path: Path) -> None:
    """Out-of-domain targets are dropped with the reason, and the exit status is 1."""
    code, report = check_json(knot_config(running_knot, tmp_path), "evil.example.test")
    assert code == 1
    reasons = [d["reason"] for d in report["dropped"]]  # type: ignore[union-attr,index]
    assert len(reasons) == 2 and all("outside the domain" in r for r in reasons)
    codes = {f["code"] for f in report["findings"]}  # type: ignore[union-attr,index]
    assert {"no-incoming", "no-submission"} <= codes


def test_check_lints_cname_and_starttls(running_knot: Knot, tmp_path: Path) -> None:
    """CNAME targets and STARTTLS-only services are warnings, not errors."""
    config = knot_config(running_knot, tmp_path)
    code, report = check_json(config, "cname.example.test")
    assert code == 0
    assert "cname-target" in {f["code"] for f in report["findings"]}  # type: ignore[union-attr,index]
    code, report = check_json(config, "starttls.example.test")
    assert code == 0
    assert {"cleartext-start", "no-submissions", "no-autodiscover-srv"} <= {
        f["code"] for f in report["findings"]
    }  # type: ignore[union-attr,index]


def test_check_dns_failure_exits_1(running_knot: Knot, tmp_path: Path) -> None:
    """SERVFAIL is reported as a DNS error, not as missing records."""
    code, report = check_json(knot_config(running_knot, tmp_path), "broken.test")
    assert code == 1
    assert "broken.test" in str(report["error"])


def test_check_unserved_domain(running_knot: Knot, tmp_path: Path) -> None:
    """A domain missing from the config is looked up but flagged: the service says 404."""
    code, report = check_json(knot_config(running_knot, tmp_path), "pop.example.test")
    assert code == 1
    assert report["served"] is False
    assert report["servers"]  # the records exist; only the configuration is missing


def test_check_rejects_bad_target() -> None:
    """A malformed address is a usage error (exit 2)."""
    code, output = run("check", "not an address@@")
    assert code == 2 and "Invalid" in output


def test_check_embedded_default() -> None:
    """With no configuration check reads the bundled example zone."""
    code, output = run("check", "alice@example.com")
    assert code == 0 and "mail.example.com:993" in output


#: One row of each table ``check`` prints, its columns as groups.
ROWS = {
    "Settings (in the order clients are told):": re.compile(
        r"  (\S+) +(\S+) +(\S+) +(from \S+ \(priority \d+, weight \d+\)) *$"
    ),
    "Records seen:": re.compile(
        r"  (\S+) +([A-Z]+) +([a-z]+) +(ttl=\d+)(?: +(authenticated))?(?: +(\S.*))? *$"
    ),
    "Findings:": re.compile(r"  (error|warning|info) +(\S+: \S.*) *$"),
}


def column_starts(output: str) -> dict[str, list[set[int]]]:
    """For each table: per column, the set of offsets its cells start at (one = aligned)."""
    tables: dict[str, list[set[int]]] = {}
    section = ""
    for line in output.splitlines():
        if line in ROWS:
            section = line
            continue
        if not line.startswith("  ") or section not in ROWS or line == "  (none)":
            section = "" if not line.startswith("  ") else section
            continue
        match = ROWS[section].fullmatch(line)
        assert match, f"{section} row not in the expected shape: {line!r}"
        starts = tables.setdefault(section, [set() for _ in range(match.re.groups)])
        for group in range(match.re.groups):
            if match.group(group + 1) is not None:
                starts[group].add(match.start(group + 1))
    return tables


@pytest.mark.parametrize(
    "target", ["alice@example.com", "evil.example.test", "starttls.example.test", "a@alias.test"]
)
def test_check_columns_line_up(running_knot: Knot, tmp_path: Path, target: str) -> None:
    """Every row of every table starts each column at the same offset, whatever the
    length of a DAV URL (the bundled example's CardDAV URL is 42 characters) or of a
    record name; and no line ends in blanks."""
    config = [] if target.endswith(".com") else ["--config", knot_config(running_knot, tmp_path)]
    _, output = run("check", *config, target)
    tables = column_starts(output)
    assert "Records seen:" in tables
    for section, columns in tables.items():
        for number, starts in enumerate(columns, 1):
            assert len(starts) <= 1, f"{section} column {number} starts at {sorted(starts)}"
    assert all(line == line.rstrip() for line in output.splitlines())


def test_zone_output_parses_and_round_trips(tmp_path: Path) -> None:
    """zone prints BIND text that derives, through our own zone source, to its settings."""
    from autoconf.model import Protocol
    from tests.published import provider_from_records

    code, text = run("zone", "example.org", "--dav-host", "dav.example.org", "--pop3")
    assert code == 0
    provider = provider_from_records(tmp_path, "example.org", text)
    assert [(s.host, s.port) for s in provider.incoming] == [
        ("mail.example.org", 993),
        ("mail.example.org", 995),
    ]
    assert [(s.host, s.port) for s in provider.outgoing] == [
        ("mail.example.org", 465),
        ("mail.example.org", 587),
    ]
    assert provider.of(Protocol.CALDAV)[0].url == "https://dav.example.org/dav/"
    assert "_autodiscover._tcp  SRV  0 0 443 autodiscover.example.org." in text


def test_serve_refuses_bad_config(tmp_path: Path) -> None:
    """serve validates the configuration before starting gunicorn."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[dns]\ntimeout = -1\n[domains."example.org"]\n')
    code, output = run("serve", "--config", str(bad))
    assert code == 1 and "dns.timeout" in output


def test_check_shows_the_login_clients_are_given(running_knot: Knot, tmp_path: Path) -> None:
    """A domain with aliases hands out ``%EMAILLOCALPART%@<primary>`` (the alias login
    rule); check reports that template, not the configured ``%EMAILADDRESS%``."""
    code, report = check_json(knot_config(running_knot, tmp_path), "alias.test")
    assert code == 0
    servers = report["servers"]
    assert isinstance(servers, list) and servers
    assert {s["username"] for s in servers} == {"%EMAILLOCALPART%@example.test"}

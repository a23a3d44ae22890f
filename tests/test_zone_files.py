"""Zone files named anything: the origin from the file ($ORIGIN, SOA owner) or from the
configuration, and one clean error line (file, line, problem) for a file that is missing,
unreadable or broken, from the library, `check` and `serve`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autoconf import sources
from autoconf.config import load_settings
from autoconf.config_kinds import ZoneFile
from autoconf.dns_source import ZoneSource
from autoconf.errors import ConfigError
from autoconf.model import Status
from autoconf.sources import make_source
from autoconf.sources import preload_zones
from tests.knot import free_port

ROOT = Path(__file__).resolve().parents[1]
SOA = "SOA ns1.example.org. hostmaster.example.org. 2026113001 7200 3600 1209600 300"
RECORDS = """\
@                  NS    ns1.example.org.
ns1                A     192.0.2.53
_imaps._tcp        SRV   0 1 993 imap.example.org.
"""
#: Debian's usual layout (/etc/bind/db.example.org): $ORIGIN, then "@" for the apex.
DEBIAN = f"$TTL 3600\n$ORIGIN example.org.\n@ {SOA}\n{RECORDS}"
#: No $ORIGIN, the SOA owner written absolutely.
ABSOLUTE = f"$TTL 3600\nexample.org. {SOA}\n$ORIGIN example.org.\n{RECORDS}"
#: BIND's own dumps (named-compilezone -o, secondary zone files): "$ORIGIN ." first.
BIND_DUMP = (
    f"$ORIGIN .\n$TTL 3600\nexample.org IN {SOA.replace('SOA', 'SOA (', 1)} )\n"
    f"$ORIGIN example.org.\n{RECORDS}"
)
#: BIND style with the origin in named.conf: the file alone does not say which zone it is.
AMBIGUOUS = f"$TTL 3600\n@ {SOA}\n{RECORDS}"
IMAPS = ("_imaps._tcp.example.org.", "SRV")


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def imaps_target(source: ZoneSource) -> str:
    answer = source.ask([IMAPS])[IMAPS]
    assert answer.status is Status.ANSWER
    return answer.srv[0].target


def load_error(entry: ZoneFile | Path) -> str:
    with pytest.raises(ConfigError) as info:
        ZoneSource([entry])
    return info.value.detail


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("db.example.org", DEBIAN),
        ("example.org.zone", DEBIAN),
        ("zone.txt", ABSOLUTE),
        ("example.org", BIND_DUMP),
    ],
)
def test_origin_comes_from_the_file_whatever_its_name(tmp_path: Path, name: str, text: str) -> None:
    """$ORIGIN or an absolute SOA owner names the zone; the file name plays no part
    (before: the origin was the file name minus .zone/.db, so db.example.org failed)."""
    source = ZoneSource([write(tmp_path, name, text)])
    assert source.origins == ("example.org.",)
    assert imaps_target(source) == "imap.example.org"


def test_a_file_that_does_not_state_its_origin_needs_it_configured(tmp_path: Path) -> None:
    """ "@ SOA" with no $ORIGIN: refused with the line and the fix; configured, it loads."""
    path = write(tmp_path, "db.example", AMBIGUOUS)
    detail = load_error(path)
    assert detail.startswith(f"dns.zone_files: {path} line 2: the file does not state its origin")
    assert 'origin = "example.org"' in detail
    config = write(
        tmp_path,
        "autoconf.toml",
        '[dns]\nzone_files = [{ file = "db.example", origin = "example.org" }]\n'
        '[domains."example.org"]\n',
    )
    source = make_source(load_settings(config, environ={}).dns)
    assert isinstance(source, ZoneSource)
    assert imaps_target(source) == "imap.example.org"


def test_a_configured_origin_the_file_contradicts_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "db.example.org", DEBIAN)
    detail = load_error(ZoneFile(path, "example.net"))
    assert detail == (
        f"dns.zone_files: {path}: no SOA record at example.net, the configured origin; "
        "the file says example.org"
    )


def test_mixed_list_and_environment_override(tmp_path: Path) -> None:
    """Plain paths and { file, origin } tables mix; AUTOCONF_DNS__ZONE_FILES takes both."""
    write(tmp_path, "db.example", AMBIGUOUS)
    write(tmp_path, "other.zone", DEBIAN.replace("example.org", "example.com"))
    config = write(tmp_path, "autoconf.toml", '[domains."example.org"]\n')
    value = '["other.zone", { file = "db.example", origin = "example.org." }]'
    settings = load_settings(config, environ={"AUTOCONF_DNS__ZONE_FILES": value})
    assert settings.dns.zone_files == (
        ZoneFile(tmp_path / "other.zone"),
        ZoneFile(tmp_path / "db.example", "example.org"),
    )
    source = make_source(settings.dns)
    assert isinstance(source, ZoneSource)
    assert sorted(source.origins) == ["example.com.", "example.org."]


@pytest.mark.parametrize(
    ("zone_files", "message"),
    [
        ("a.zone", "dns.zone_files: must be a list of file names or"),
        ([1], "dns.zone_files: must be a list of file names or"),
        ([{"origin": "example.org"}], 'every table needs file = "<path>"'),
        ([{"file": "a", "origin": "not a domain!"}], "dns.zone_files: origin of a: invalid"),
        ([{"file": "a", "origin": ""}], "dns.zone_files: origin of a:"),
        ([{"file": "a", "orign": "example.org"}], "dns.zone_files.orign: unknown key"),
        ([""], "dns.zone_files: empty file name"),
        (["a.zone", "a.zone"], "dns.zone_files: a.zone is listed twice"),
        (["a.zone", {"file": "./a.zone"}], "./a.zone is the same file as a.zone"),
    ],
)
def test_zone_files_entries_are_validated(tmp_path: Path, zone_files: object, message: str) -> None:
    from autoconf.config import settings_from_mapping

    data = {"dns": {"zone_files": zone_files}, "domains": {"example.org": {}}}
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(data, base_dir=tmp_path)
    assert message in info.value.detail


def test_two_files_of_one_zone_are_refused(tmp_path: Path) -> None:
    first = write(tmp_path, "db.example.org", DEBIAN)
    second = write(tmp_path, "example.org.zone", ABSOLUTE)
    with pytest.raises(ConfigError) as info:
        ZoneSource([first, second])
    assert info.value.detail == (
        f"dns.zone_files: {first} and {second} are both the zone example.org"
    )


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        # The bad token ends its line: dnspython's own count has moved on to line 6.
        (DEBIAN + "mail A 192.0.2.999\n\n", 7, "Text input is malformed."),
        (DEBIAN + "mail A 192.0.2.999 ; typo\n", 7, "Text input is malformed."),
        (DEBIAN.replace("\n", "\r\n") + "mail A 192.0.2.999\r\n", 7, "Text input is malformed."),
        (DEBIAN + "mail AAA 192.0.2.1\n", 7, "unknown rdatatype 'AAA'"),
        (DEBIAN + "_imap._tcp SRV 0 0 99999 .\n", 7, "99999 is not an unsigned 16-bit"),
        (DEBIAN + "www CNAME example.org.\nwww A 192.0.2.1\n", 8, "not compatible with a CNAME"),
        (f"$ORIGIN example.org.\n@ {SOA.replace(' 300', ' (')}\n", 2, "unbalanced parentheses"),
        (f"$ORIGIN example.org.\n@ SOA this is not a valid SOA\n{RECORDS}", 2, "expecting an"),
        (DEBIAN + "$INCLUDE /etc/passwd\n", 7, "$INCLUDE is not supported"),
        ("$INCLUDE db.other\n" + DEBIAN, 1, "$INCLUDE is not supported"),
        (DEBIAN + "$FOO bar\n", 7, "unknown directive $FOO"),
        (DEBIAN + "sub 300 SOA ns h 1 2 3 4 5\n", 7, "an SOA record outside the origin"),
        ("mail.example.org. 300 A 192.0.2.1\n" + ABSOLUTE, 1, "the first record is not the"),
    ],
)
def test_broken_zone_is_one_line_with_file_and_line(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = write(tmp_path, "db.example.org", text)
    detail = load_error(path)
    assert detail.startswith(f"dns.zone_files: {path} line {line}: "), detail
    assert problem in detail
    assert "\n" not in detail


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no records"),
        ("; only a comment\n\n", "no records"),
        (f"$ORIGIN example.org.\n@ {SOA}\n", "no NS records at the origin example.org"),
    ],
)
def test_zone_without_apex_records_is_refused(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, "db.example.org", text)
    assert load_error(path) == f"dns.zone_files: {path}: {problem}"


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "db.example.org"
    path.write_bytes(DEBIAN.encode() + b"; caf\xe9\n")
    assert load_error(path) == f"dns.zone_files: {path} line 7: not UTF-8 text"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    missing = tmp_path / "db.missing"
    assert (
        load_error(missing) == f"dns.zone_files: {missing}: cannot read: No such file or directory"
    )
    assert load_error(tmp_path) == f"dns.zone_files: {tmp_path}: cannot read: Is a directory"


def test_preloaded_zones_are_a_snapshot_until_reloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the gunicorn master's hooks rely on: make_source hands out the preloaded
    zones; a broken file at reload raises and leaves the last good ones in place."""
    monkeypatch.setattr(sources, "_preloaded", None)
    zone = write(tmp_path, "db.example.org", DEBIAN)
    config = write(tmp_path, "autoconf.toml", CONFIG)
    settings = load_settings(config, environ={})
    preload_zones(settings)
    first = make_source(settings.dns)
    assert isinstance(first, ZoneSource)
    zone.write_text(DEBIAN.replace("imap.example.org", "imap2.example.org"))
    assert make_source(settings.dns) is first
    preload_zones(settings)
    second = make_source(settings.dns)
    assert isinstance(second, ZoneSource)
    assert imaps_target(second) == "imap2.example.org"
    zone.write_text(DEBIAN + "broken line\n")
    with pytest.raises(ConfigError, match="line 7"):
        preload_zones(settings)
    assert make_source(settings.dns) is second


# --- the command line: one line, non-zero, before any worker ---------------------------------

CONFIG = '[dns]\nzone_files = ["db.example.org"]\n[domains."example.org"]\n'


def mail_autoconf(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "autoconf", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert len(output.splitlines()) == 1, output
    assert output.startswith(f"Error: configuration error: {expected}"), output


BROKEN_LINE = (DEBIAN + "mail A 192.0.2.999\n", "line 7: Text input is malformed.")
CASES = {
    "missing": (None, "cannot read: No such file or directory"),
    "broken": BROKEN_LINE,
    "ambiguous": (AMBIGUOUS, "line 2: the file does not state its origin"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["check", "serve"])
def test_cli_reports_a_bad_zone_file_in_one_line(tmp_path: Path, case: str, command: str) -> None:
    """`check` and `serve` exit 1 with one line, no traceback; `serve` before gunicorn
    starts (before: a 48-line traceback from check, and serve said it was listening)."""
    text, problem = CASES[case]
    zone = tmp_path / "db.example.org"
    if text is not None:
        zone.write_text(text)
    config = write(tmp_path, "autoconf.toml", CONFIG)
    args = ["check", "example.org"]
    if command == "serve":
        args = ["serve", "--bind", f"127.0.0.1:{free_port()}"]
    result = mail_autoconf(*args, "--config", str(config))
    output = result.stdout + result.stderr
    assert_one_line_error(result, f"dns.zone_files: {zone}")
    assert problem in output
    assert "Listening" not in output and "Booting worker" not in output


def test_cli_reports_an_unreadable_zone_file(tmp_path: Path) -> None:
    """chmod 000. Root reads anything, so as root the command runs without the
    capabilities that bypass file permissions (setpriv, util-linux)."""
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv (util-linux) is missing")
        prefix = (setpriv, "--bounding-set=-dac_override,-dac_read_search")
    zone = write(tmp_path, "db.example.org", DEBIAN)
    zone.chmod(0)
    config = write(tmp_path, "autoconf.toml", CONFIG)
    try:
        for args in (["check", "example.org"], ["serve", "--bind", f"127.0.0.1:{free_port()}"]):
            result = mail_autoconf(*args, "--config", str(config), prefix=prefix)
            assert_one_line_error(result, f"dns.zone_files: {zone}: cannot read: Permission denied")
    finally:
        zone.chmod(0o644)


def test_check_answers_from_a_debian_zone_file(tmp_path: Path) -> None:
    write(tmp_path, "db.example.org", DEBIAN)
    config = write(tmp_path, "autoconf.toml", CONFIG)
    result = mail_autoconf("check", "--config", str(config), "example.org")
    assert "imap.example.org:993" in result.stdout, result.stdout + result.stderr

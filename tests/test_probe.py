"""``check --probe`` (autoconf/diagnostics/probe.py) against scripted servers on loopback:
healthy ones pass, and each deliberate fault is named by its own finding.

Names resolve through the real Knot (``mail.example.test A 127.0.0.1``) like every other
lookup; certificates come from a trustme CA. The probe against the real Dovecot, Postfix
and Radicale runs in the lab (tests/lab/test_lab_probe.py, root).
"""

from __future__ import annotations

import datetime
import json
import ssl
import subprocess
import sys
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from click.testing import CliRunner
from flask.testing import FlaskClient

from autoconf.cli import main
from autoconf.diagnostics.probe import MAX_LINE
from autoconf.diagnostics.probe import ProbeOptions
from autoconf.diagnostics.probe import ServerProbe
from autoconf.diagnostics.probe import probe_server
from autoconf.dns_source import LiveSource
from autoconf.model import Authentication
from autoconf.model import Protocol
from autoconf.model import Security
from autoconf.model import Server
from autoconf.model import Username
from tests.conftest import ZONE_FILE
from tests.conftest import config
from tests.knot import Knot
from tests.knot import free_port
from tests.mail_servers import Conversation
from tests.mail_servers import Faults
from tests.mail_servers import Script
from tests.mail_servers import dav
from tests.mail_servers import http
from tests.mail_servers import imap
from tests.mail_servers import pop3
from tests.mail_servers import serving
from tests.mail_servers import submission
from tests.servers import ROOT
from tests.servers import to_toml

HOST = "mail.example.test"
#: The ``probe`` fixture: (script, protocol, security, TLS context) -> (result, lines heard).
ProbeRun = Callable[..., tuple[ServerProbe, list[str]]]
#: Secrets a probe must never send, whatever the server offers.
CREDENTIAL_COMMANDS = ("LOGIN", "AUTHENTICATE", "AUTH", "USER", "PASS", "AUTHORIZATION")


@pytest.fixture(name="ca", scope="module")
def fixture_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(name="cafile", scope="module")
def fixture_cafile(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _context(ca: trustme.CA, *names: str, **validity: datetime.datetime) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*names, **validity).configure_cert(context)
    return context


@pytest.fixture(name="good", scope="module")
def fixture_good(ca: trustme.CA) -> ssl.SSLContext:
    return _context(ca, HOST)


@pytest.fixture(name="source")
def fixture_source(running_knot: Knot) -> LiveSource:
    return LiveSource(nameservers=[(running_knot.address, running_knot.port)], timeout=2.0)


def _server(protocol: Protocol, port: int, security: Security, host: str = HOST) -> Server:
    return Server(
        protocol=protocol,
        host=host,
        port=port,
        security=security,
        authentication=Authentication.PASSWORD_CLEARTEXT,
        username=Username.EMAILADDRESS,
        path="/dav/" if protocol in (Protocol.CALDAV, Protocol.CARDDAV) else "",
    )


@pytest.fixture(name="probe")
def fixture_probe(source: LiveSource, cafile: str) -> Iterator[ProbeRun]:
    """probe(script, protocol, security, context) -> (result, lines the server heard)."""

    def run(
        script: Script,
        protocol: Protocol,
        security: Security,
        context: ssl.SSLContext | None,
        *,
        timeout: float = 5.0,
    ) -> tuple[ServerProbe, list[str]]:
        implicit = security is Security.TLS
        with serving(script, context, implicit=implicit) as server:
            found = probe_server(
                _server(protocol, server.port, security),
                source,
                ProbeOptions(timeout=timeout, cafile=cafile),
            )
        return found, server.heard

    yield run


def _codes(result: ServerProbe, severity: str = "error") -> set[str]:
    return {f.code for f in result.findings if f.severity == severity}


def _assert_no_credential(heard: list[str]) -> None:
    for line in heard:
        words = line.upper().split()
        assert not (set(words[:2]) & set(CREDENTIAL_COMMANDS)), heard


HEALTHY = [
    (imap(), Protocol.IMAP, Security.TLS),
    (imap(), Protocol.IMAP, Security.STARTTLS),
    (pop3(), Protocol.POP3, Security.TLS),
    (pop3(), Protocol.POP3, Security.STARTTLS),
    (submission(), Protocol.SMTP, Security.TLS),
    (submission(), Protocol.SMTP, Security.STARTTLS),
    (dav("caldav"), Protocol.CALDAV, Security.TLS),
    (dav("carddav"), Protocol.CARDDAV, Security.TLS),
]


@pytest.mark.parametrize(
    ("script", "protocol", "security"),
    HEALTHY,
    ids=[f"{p.value}-{s.value}" for _, p, s in HEALTHY],
)
def test_healthy_server_passes(
    probe: ProbeRun, good: ssl.SSLContext, script: Script, protocol: Protocol, security: Security
) -> None:
    """TLS as advertised, a verified certificate for the SRV target with its days left,
    the password mechanism offered over TLS only; nothing secret sent."""
    result, heard = probe(script, protocol, security, good)
    assert result.ok, result.findings
    assert result.tls_version.startswith("TLSv1.")
    assert result.certificate is not None and result.certificate.names == (HOST,)
    assert "cert-valid" in _codes(result, "info")
    if protocol in (Protocol.CALDAV, Protocol.CARDDAV):
        assert "dav-ok" in _codes(result, "info")
    else:
        assert "auth-offered" in _codes(result, "info")
        assert any("PLAIN" in c for c in result.capabilities)
    if security is Security.STARTTLS:
        assert not any("PLAIN" in c for c in result.before_tls)
    _assert_no_credential(heard)


def test_closed_port(source: LiveSource, cafile: str) -> None:
    server = _server(Protocol.IMAP, free_port(), Security.TLS)
    result = probe_server(server, source, ProbeOptions(timeout=3, cafile=cafile))
    assert _codes(result) == {"connect-failed"}
    assert "connection refused" in result.findings[0].message


def test_unknown_name(source: LiveSource, cafile: str) -> None:
    server = _server(Protocol.IMAP, 993, Security.TLS, host="nowhere.example.test")
    result = probe_server(server, source, ProbeOptions(timeout=3, cafile=cafile))
    assert _codes(result) == {"no-address"}


@pytest.mark.parametrize(
    ("script", "protocol", "security"),
    [
        (imap(), Protocol.IMAP, Security.TLS),
        (submission(), Protocol.SMTP, Security.STARTTLS),
        (dav("caldav"), Protocol.CALDAV, Security.TLS),
    ],
    ids=["imaps", "submission-starttls", "caldav"],
)
def test_certificate_for_another_name(
    probe: ProbeRun, ca: trustme.CA, script: Script, protocol: Protocol, security: Security
) -> None:
    """Only the name is wrong: one finding naming what the certificate does cover; the
    rest of the dialogue is still checked (over an unverified connection)."""
    result, heard = probe(script, protocol, security, _context(ca, "other.example.test"))
    assert _codes(result) == {"cert-name-mismatch"}, result.findings
    message = next(f.message for f in result.findings if f.code == "cert-name-mismatch")
    assert "other.example.test" in message and HOST in message
    assert result.capabilities or result.dav
    _assert_no_credential(heard)


def test_expired_certificate(probe: ProbeRun, ca: trustme.CA) -> None:
    now = datetime.datetime.now(datetime.UTC)
    context = _context(
        ca,
        HOST,
        not_before=now - datetime.timedelta(days=400),
        not_after=now - datetime.timedelta(days=30),
    )
    result, _ = probe(imap(), Protocol.IMAP, Security.TLS, context)
    assert _codes(result) == {"cert-expired"}, result.findings
    assert result.certificate is not None and result.certificate.days_left(now) < 0


def test_expiring_certificate_is_a_warning(probe: ProbeRun, ca: trustme.CA) -> None:
    now = datetime.datetime.now(datetime.UTC)
    context = _context(ca, HOST, not_after=now + datetime.timedelta(days=5))
    result, _ = probe(imap(), Protocol.IMAP, Security.TLS, context)
    assert result.ok and "cert-expiring" in _codes(result, "warning"), result.findings


def test_untrusted_chain(source: LiveSource, good: ssl.SSLContext) -> None:
    """Without --cafile the system store is used, and it does not know the test CA."""
    with serving(imap(), good, implicit=True) as server:
        result = probe_server(
            _server(Protocol.IMAP, server.port, Security.TLS), source, ProbeOptions(timeout=5)
        )
    assert _codes(result) == {"cert-untrusted"}, result.findings


@pytest.mark.parametrize(
    ("script", "protocol"),
    [
        (imap(Faults(starttls=False)), Protocol.IMAP),
        (pop3(Faults(starttls=False)), Protocol.POP3),
        (submission(Faults(starttls=False)), Protocol.SMTP),
    ],
    ids=["imap", "pop3", "submission"],
)
def test_starttls_missing(
    probe: ProbeRun, good: ssl.SSLContext, script: Script, protocol: Protocol
) -> None:
    result, heard = probe(script, protocol, Security.STARTTLS, good)
    assert _codes(result) == {"starttls-missing"}, result.findings
    assert not result.tls_version
    _assert_no_credential(heard)


@pytest.mark.parametrize(
    ("script", "protocol"),
    [
        (imap(Faults(auth_before_tls=True)), Protocol.IMAP),
        (pop3(Faults(auth_before_tls=True)), Protocol.POP3),
        (submission(Faults(auth_before_tls=True)), Protocol.SMTP),
    ],
    ids=["imap", "pop3", "submission"],
)
def test_plaintext_auth_before_tls(
    probe: ProbeRun, good: ssl.SSLContext, script: Script, protocol: Protocol
) -> None:
    result, heard = probe(script, protocol, Security.STARTTLS, good)
    assert _codes(result) == {"auth-before-tls"}, result.findings
    assert "PLAIN" in next(f.message for f in result.findings if f.code == "auth-before-tls")
    _assert_no_credential(heard)


def test_mechanism_not_offered_after_tls(probe: ProbeRun, good: ssl.SSLContext) -> None:
    script = submission(Faults(auth_after_tls=False))
    result, _ = probe(script, Protocol.SMTP, Security.TLS, good)
    assert _codes(result) == {"auth-not-offered"}, result.findings


@pytest.mark.parametrize("status", [200, 404])
def test_dav_path_that_is_not_dav(probe: ProbeRun, good: ssl.SSLContext, status: int) -> None:
    """A web page (200) or nothing (404) where the TXT path points: not DAV."""
    script = http(status, {"Content-Type": "text/html"})
    result, _ = probe(script, Protocol.CALDAV, Security.TLS, good)
    assert _codes(result) == {"dav-not-dav", "dav-no-dav-header"}, result.findings


def test_dav_without_the_calendar_class(probe: ProbeRun, good: ssl.SSLContext) -> None:
    """A CardDAV-only server where CalDAV is advertised."""
    result, _ = probe(dav("carddav"), Protocol.CALDAV, Security.TLS, good)
    assert _codes(result) == {"dav-no-class"}, result.findings


def test_dav_redirect_on_the_same_host_is_followed(probe: ProbeRun, good: ssl.SSLContext) -> None:
    def script(c: Conversation) -> None:
        method, path, _ = c.line().split()
        while c.line():
            pass
        if path == "/dav/":
            c.send("HTTP/1.1 301 Moved", "Location: /dav/calendars/")
        elif method == "OPTIONS":
            c.send("HTTP/1.1 200 OK", "DAV: 1, 2, calendar-access")
        else:
            c.send("HTTP/1.1 207 Multi-Status")
        c.send("Content-Length: 0", "Connection: close", "")

    result, _ = probe(script, Protocol.CALDAV, Security.TLS, good)
    assert result.ok, result.findings
    assert {"dav-redirect", "dav-ok"} <= _codes(result, "info")
    assert result.http[-1].endswith("/dav/calendars/ -> 207"), result.http


def test_wrong_service_on_the_port(probe: ProbeRun, good: ssl.SSLContext) -> None:
    """An HTTP server where IMAP is advertised: the greeting gives it away."""
    script = http(400, {})

    def speaks_first(c: Conversation) -> None:
        c.send("HTTP/1.1 400 Bad Request", "Content-Length: 0", "")
        script(c)

    result, _ = probe(speaks_first, Protocol.IMAP, Security.STARTTLS, None)
    assert _codes(result) == {"bad-greeting"}, result.findings


def test_plaintext_server_on_the_implicit_tls_port(source: LiveSource, cafile: str) -> None:
    with serving(imap(), None, implicit=False) as server:
        result = probe_server(
            _server(Protocol.IMAP, server.port, Security.TLS),
            source,
            ProbeOptions(timeout=3, cafile=cafile),
        )
    assert _codes(result) == {"tls-failed"}, result.findings


def test_silent_server_times_out(source: LiveSource, cafile: str) -> None:
    with serving(lambda c: c.line() and None, None, implicit=False) as server:
        result = probe_server(
            _server(Protocol.SMTP, server.port, Security.STARTTLS),
            source,
            ProbeOptions(timeout=0.5, cafile=cafile),
        )
    assert _codes(result) == {"timeout"}, result.findings


def test_endless_line_is_cut_off(probe: ProbeRun) -> None:
    """Servers are untrusted too: a greeting that never ends costs at most MAX_LINE bytes."""

    def flood(c: Conversation) -> None:
        c.sock.sendall(b"* OK " + b"x" * (MAX_LINE * 4))
        c.line()

    result, _ = probe(flood, Protocol.IMAP, Security.STARTTLS, None)
    assert _codes(result) == {"protocol-error"}, result.findings
    assert f"longer than {MAX_LINE} bytes" in result.findings[0].message


def test_command_injection_after_starttls_is_flagged(probe: ProbeRun, good: ssl.SSLContext) -> None:
    """Bytes the server sends right after its STARTTLS answer, in clear, are not taken for
    part of the TLS session (RFC 3207 section 6)."""
    base = submission()

    def injecting(c: Conversation) -> None:
        original = c.send

        def send(*lines: str) -> None:
            if lines and lines[0].startswith("220 2.0.0"):
                lines = (*lines, "250 AUTH PLAIN")
            original(*lines)

        c.send = send  # type: ignore[method-assign]
        base(c)

    result, _ = probe(injecting, Protocol.SMTP, Security.STARTTLS, good)
    assert _codes(result) == {"starttls-injection"}, result.findings


# --- the command ----------------------------------------------------------------------------


def _config(tmp_path: Path, knot: Knot, imaps: int, submissions: int) -> str:
    """Records from a zone file (SRV to the scripted servers' ports); addresses from live
    DNS (the Knot), as documented for zone-file setups."""
    zone = tmp_path / "probe.test.zone"
    zone.write_text(
        "$ORIGIN probe.test.\n$TTL 300\n"
        "@ SOA ns.probe.test. hostmaster.probe.test. 1 3600 600 86400 60\n"
        "@ NS ns.probe.test.\n"
        f"_imaps._tcp SRV 0 1 {imaps} {HOST}.\n"
        f"_submissions._tcp SRV 0 1 {submissions} {HOST}.\n"
    )
    path = tmp_path / "autoconf.toml"
    path.write_text(
        to_toml(
            {
                "dns": {
                    "zone_files": [str(zone)],
                    "nameservers": [knot.nameserver],
                    "timeout": 1.0,
                    "trusted_target_suffixes": ["example.test"],
                },
                "domains": {"probe.test": {}},
            }
        )
    )
    return str(path)


def test_check_probe_text_and_json_agree(
    tmp_path: Path, running_knot: Knot, good: ssl.SSLContext, cafile: str
) -> None:
    """A healthy IMAPS server and a closed submission port: exit status 1, and the same
    finding wording in the text and the JSON output."""
    closed = free_port()
    with serving(imap(), good, implicit=True) as server:
        config = _config(tmp_path, running_knot, server.port, closed)
        args = ["check", "--probe", "--cafile", cafile, "--timeout", "3", "--config", config]
        text = CliRunner().invoke(main, [*args, "probe.test"])
        as_json = CliRunner().invoke(main, [*args, "--json", "probe.test"])
    assert (text.exit_code, as_json.exit_code) == (1, 1), text.output
    data = json.loads(as_json.output)
    assert data["ok"] is False
    imaps, smtp = data["probes"]
    assert (imaps["protocol"], imaps["ok"], smtp["protocol"], smtp["ok"]) == (
        "imap",
        True,
        "smtp",
        False,
    )
    assert imaps["certificate"]["days_left"] > 300
    assert [f["code"] for f in smtp["findings"]] == ["connect-failed"]
    for probe in data["probes"]:
        for finding in probe["findings"]:
            assert f"{finding['code']}: {finding['message']}" in text.output
    assert "PROBLEMS FOUND (1 errors)" in text.output


def test_check_probe_passes_on_healthy_servers(
    tmp_path: Path, running_knot: Knot, good: ssl.SSLContext, cafile: str
) -> None:
    with (
        serving(imap(), good, implicit=True) as imaps,
        serving(submission(), good, implicit=True) as smtp,
    ):
        config = _config(tmp_path, running_knot, imaps.port, smtp.port)
        args = ["check", "--probe", "--cafile", cafile, "--config", config, "probe.test"]
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("ALL SERVERS OK")


def test_probe_and_url_are_separate(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["check", "--probe", "--url", "https://autoconfig.example.test", "example.test"]
    )
    assert result.exit_code == 2 and "separate" in result.output


# --- the web side never probes ------------------------------------------------------------


def test_diag_page_prints_the_probe_command(client: FlaskClient) -> None:
    """The public page tells the admin how to probe and never does it: a page that
    connects to hosts named by DNS records anyone can publish would be an SSRF tool."""
    text = client.get("/?address=alice@example.test").get_data(as_text=True)
    assert "<code>mail-autoconf check --probe example.test</code>" in text


def test_the_app_never_loads_the_probe() -> None:
    """Building the app and rendering every view imports no probe code at all."""
    code = (
        "import sys; from autoconf import create_app; from tests.conftest import config, "
        "ZONE_FILE; app = create_app(config(zone_files=[str(ZONE_FILE)])); "
        "app.test_client().get('/?address=alice@example.test'); "
        "print('autoconf.diagnostics.probe' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "False"


def test_check_probe_with_nothing_to_probe_fails(tmp_path: Path) -> None:
    """A domain without usable records: nothing to probe is not a pass."""
    path = tmp_path / "autoconf.toml"
    path.write_text(to_toml(config(zone_files=[str(ZONE_FILE)])))
    result = CliRunner().invoke(
        main, ["check", "--probe", "--config", str(path), "none.example.test"]
    )
    assert result.exit_code == 1, result.output
    assert "No servers to probe." in result.output

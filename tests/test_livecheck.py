"""``mail-autoconf check --url``: client-faithful readers, our own server, a drifted stand-in."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from autoconf.address import Address
from autoconf.cli import main
from autoconf.diagnostics.clientread import Answer
from autoconf.diagnostics.clientread import Reading
from autoconf.diagnostics.clientread import Seen
from autoconf.diagnostics.clientread import read_autoconfig
from autoconf.diagnostics.clientread import read_pox_deltachat
from autoconf.diagnostics.clientread import read_pox_thunderbird
from autoconf.diagnostics.clientread import read_v2
from autoconf.diagnostics.documents import DOCUMENTS
from autoconf.diagnostics.livecheck import PROBES
from tests.conftest import ZONE_FILE
from tests.conftest import config
from tests.knot import Knot
from tests.servers import gunicorn
from tests.servers import to_toml

ALICE = Address(local_part="alice", domain="example.test")
XML = "text/xml; charset=utf-8"


def autoconfig(incoming: str, outgoing: str = "", provider_id: str = "example.test") -> bytes:
    """A config-v1.1 document with the given server blocks (a default SMTP one)."""
    outgoing = outgoing or (
        '<outgoingServer type="smtp"><hostname>mail.example.test</hostname><port>465</port>'
        "<socketType>SSL</socketType><authentication>password-cleartext</authentication>"
        "<username>%EMAILADDRESS%</username></outgoingServer>"
    )
    return (
        f'<clientConfig version="1.1"><emailProvider id="{provider_id}">'
        f"<domain>example.test</domain>{incoming}{outgoing}</emailProvider></clientConfig>"
    ).encode()


def imap(*, port: str = "993", socket: str = "<socketType>SSL</socketType>", user: str = "") -> str:
    """One incomingServer block; ``user`` is the raw username element (or none)."""
    return (
        f'<incomingServer type="imap"><hostname>mail.example.test</hostname><port>{port}</port>'
        f"{socket}<authentication>password-cleartext</authentication>{user}</incomingServer>"
    )


EMAIL = "<username>%EMAILADDRESS%</username>"
TLS_THEN_STARTTLS = "<socketType>TLS</socketType><socketType>STARTTLS</socketType>"
LOWER_SSL = "<socketType>ssl</socketType>"
NO_INCOMING = "no usable incomingServer"


@pytest.mark.parametrize(
    ("body", "content_type", "error", "first"),
    [
        (autoconfig(imap(user=EMAIL)), XML, "", ("tls", "alice@example.test", 993)),
        # Exact, case-sensitive socketType; the first supported one wins.
        (autoconfig(imap(socket=TLS_THEN_STARTTLS, user=EMAIL)), XML, "",
         ("starttls", "alice@example.test", 993)),
        (autoconfig(imap(socket=LOWER_SSL, user=EMAIL)), XML, NO_INCOMING, None),
        # JXON: a missing username becomes "undefined", an empty one "true", 0993 is 993.
        (autoconfig(imap(user="")), XML, "", ("tls", "undefined", 993)),
        (autoconfig(imap(user="<username/>", port="0993")), XML, "", ("tls", "true", 993)),
        (autoconfig(imap(user=EMAIL, port="0")), XML, NO_INCOMING, None),
        # The whole document is discarded for these.
        (autoconfig(imap(user=EMAIL)), "text/html", "Content-Type text/html is not XML", None),
        (autoconfig(imap(user=EMAIL), provider_id="mail_host"), XML, "emailProvider/@id", None),
        (b"<clientConfig/>", XML, "no clientConfig/emailProvider", None),
        (b"<!DOCTYPE x><clientConfig/>", XML, "not usable XML", None),
    ],
    ids=["ok", "first-socket", "lower-ssl", "no-username", "empty-username", "port-0",
         "content-type", "underscore-id", "no-provider", "doctype"],
)  # fmt: skip
def test_thunderbird_reading(
    body: bytes, content_type: str, error: str, first: tuple[str, str, int] | None
) -> None:
    """FetchHTTP.sys.mjs's and readFromXML.sys.mjs's rules, quirks included."""
    reading = read_autoconfig(
        Answer(url="u", status=200, content_type=content_type, body=body), ALICE
    )
    assert reading.error.startswith(error) if error else reading.error == ""
    if first is not None:
        got = reading.incoming[0]
        assert (got.security, got.username, got.port) == first


POX = """<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
 <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
  <Account><AccountType>email</AccountType><Action>settings</Action>{protocols}</Account>
 </Response>
</Autodiscover>"""


def protocol(kind: str, port: int, ssl: str = "on", encryption: str = "", login: str = "") -> str:
    """One POX Protocol block."""
    extra = f"<Encryption>{encryption}</Encryption>" if encryption else ""
    extra += f"<LoginName>{login}</LoginName>" if login else ""
    return (
        f"<Protocol><Type>{kind}</Type><Server>mail.example.test</Server><Port>{port}</Port>"
        f"<SSL>{ssl}</SSL>{extra}</Protocol>"
    )


@pytest.mark.parametrize(
    ("block", "thunderbird", "deltachat"),
    [
        (protocol("IMAP", 993), "tls", "automatic"),
        (protocol("IMAP", 143), "starttls", "automatic"),
        # ExchangeAutoDiscover.sys.mjs: SSL off + Encryption TLS on port 143 is plaintext to TB.
        (protocol("IMAP", 143, ssl="off", encryption="TLS"), "plain", "plain"),
        # Delta Chat compares with lowercase "off" only: "Off" means on.
        (protocol("IMAP", 993, ssl="Off"), "plain", "automatic"),
        (protocol("IMAP", 993, encryption="None"), "plain", "automatic"),
    ],
    ids=["ssl-993", "by-port-143", "ssl-off-tls", "Off", "encryption-none"],
)
def test_pox_readings(block: str, thunderbird: str, deltachat: str) -> None:
    """The same POX answer means different things to Thunderbird and Delta Chat."""
    body = POX.format(protocols=block + protocol("SMTP", 465)).encode()
    answer = Answer(url="u", status=200, content_type=XML, body=body)
    assert read_pox_thunderbird(answer, ALICE).incoming[0].security == thunderbird
    assert read_pox_deltachat(answer).incoming[0].security == deltachat


def test_pox_login_name_and_errors() -> None:
    """Thunderbird takes LoginName (else the address); Delta Chat ignores it; an Error
    document and a redirect are reported as what the client does instead."""
    body = POX.format(protocols=protocol("IMAP", 993, login="alice") + protocol("SMTP", 465))
    answer = Answer(url="u", status=200, content_type=XML, body=body.encode())
    assert read_pox_thunderbird(answer, ALICE).incoming[0].username == "alice"
    assert read_pox_thunderbird(answer, ALICE).outgoing[0].username == "alice@example.test"
    assert read_pox_deltachat(answer).incoming[0].username == ""
    error = b"<Autodiscover><Response><Error><ErrorCode>601</ErrorCode></Error></Response>"
    error += b"</Autodiscover>"
    assert read_pox_thunderbird(Answer(url="u", status=200, body=error), ALICE).error == (
        "Autodiscover error 601"
    )
    redirect = POX.format(protocols="<RedirectAddr>a@b.test</RedirectAddr>").encode()
    assert (
        "redirects" in read_pox_thunderbird(Answer(url="u", status=200, body=redirect), ALICE).error
    )


@pytest.mark.parametrize(
    ("answer", "reading"),
    [
        (Answer(url="u", status=200, body=b'{"Protocol":"AutodiscoverV1","Url":"https://a/x"}'), Reading(url="https://a/x")),
        (Answer(url="u", status=200, body=b"[1]"), Reading(error="no Url in the JSON answer")),
        (Answer(url="u", status=200, body=b"<html>"), Reading(error="not JSON")),
        (Answer(url="u", status=404), Reading(error="HTTP 404")),
        (Answer(url="u", error="no answer: refused"), Reading(error="no answer: refused")),
    ],
    ids=["ok", "no-url", "not-json", "404", "refused"],
)  # fmt: skip
def test_v2_reading(answer: Answer, reading: Reading) -> None:
    """Autodiscover v2 answers: a Url with 200, anything else is an error."""
    assert read_v2(answer) == reading


def test_probe_formats_exist() -> None:
    """Every probe checks a format the documents registry knows (one list of formats)."""
    assert {p.format for p in PROBES} <= {d.format for d in DOCUMENTS}
    assert Seen(protocol="imap", host="h", port=1, security="tls").username == ""


# --- end to end ------------------------------------------------------------------------


def run_check(*args: str) -> tuple[int, dict[str, Any]]:
    """``mail-autoconf check --json ...``; returns the exit code and the parsed output."""
    result = CliRunner().invoke(main, ["check", "--json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.output)


def rendered_formats() -> list[str]:
    """`--only` arguments for every format this build renders (more light up as they land)."""
    formats = dict.fromkeys(d.format for d in DOCUMENTS if d.render is not None)
    return [arg for f in formats for arg in ("--only", f)]


def test_check_url_agrees_with_our_own_server(running_knot: Knot, tmp_path: Path) -> None:
    """Our service under gunicorn, answering from Knot, agrees with DNS on every format it
    renders: exit status 0, every row "agree"."""
    settings = config(nameservers=[running_knot.nameserver], timeout=1.0)
    with gunicorn(settings, tmp_path) as server:
        code, report = run_check(
            "--config", str(tmp_path / "autoconf.toml"), "--url", server.url,
            # Reached by IP: the bodiless POX GET (Delta Chat) names its domain by Host.
            "--host-header", "autoconfig.example.test",
            *rendered_formats(), "alice@example.test",
        )  # fmt: skip
    assert report["ok"] is True and code == 0, report["live"]
    assert {row["key"] for row in report["live"]} >= {"thunderbird", "thunderbird-well-known"}
    assert {row["format"] for row in report["live"]} == set(rendered_formats()[1::2]) - {
        "mobileconfig"
    }
    # Every document the page renders (but the profile, which no client fetches by
    # itself) is probed under its own key.
    rendered = {d.key for d in DOCUMENTS if d.render is not None} - {"profile"}
    assert rendered <= {row["key"] for row in report["live"]}
    assert {row["status"] for row in report["live"]} == {"agree"}
    assert report["dns"]["servers"][0]["host"] == "mail.example.test"


#: What the stand-in deployment serves: settings that drifted away from DNS.
DRIFTED_AUTOCONFIG = autoconfig(
    imap(port="143", socket="<socketType>STARTTLS</socketType>", user=EMAIL),
    '<outgoingServer type="smtp"><hostname>mail.example.test</hostname><port>587</port>'
    "<socketType>STARTTLS</socketType><authentication>password-cleartext</authentication>"
    "<username>%EMAILLOCALPART%</username></outgoingServer>",
)
DRIFTED_POX = POX.format(
    protocols=protocol("IMAP", 993).replace("mail.example.test", "old-mail.example.test")
    + protocol("SMTP", 465)
).encode()
#: Delta Chat's GET: SMTP sent in cleartext.
DRIFTED_POX_GET = POX.format(protocols=protocol("IMAP", 993) + protocol("SMTP", 465, ssl="off"))
DRIFTED_MOBILESYNC = b"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
 <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006">
  <Culture>en:us</Culture>
  <Action><Settings><Server><Type>MobileSync</Type>
   <Url>https://old-mail.example.test/Microsoft-Server-ActiveSync</Url>
  </Server></Settings></Action>
 </Response>
</Autodiscover>"""
DRIFTED_V2 = b'{"Protocol":"AutodiscoverV1","Url":"http://autodiscover.example.test/autodiscover/autodiscover.xml"}'


class Drifted(BaseHTTPRequestHandler):
    """A stand-in deployment (not autoconf) serving drifted settings in every format."""

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        if path == "/mail/config-v1.1.xml":
            self.reply(XML, DRIFTED_AUTOCONFIG)
        elif path == "/.well-known/autoconfig/mail/config-v1.1.xml":
            self.reply("text/html", b"<html>moved</html>")  # Thunderbird discards this
        elif path == "/autodiscover/autodiscover.xml":
            self.reply(XML, DRIFTED_POX_GET.encode())
        elif path == "/autodiscover/autodiscover.json":
            self.reply("application/json", DRIFTED_V2)
        else:
            self.reply("text/plain", b"", status=404)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.reply(XML, DRIFTED_MOBILESYNC if b"mobilesync" in body else DRIFTED_POX)

    def reply(self, content_type: str, body: bytes, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is the report."""


@pytest.fixture(name="drifted")
def fixture_drifted() -> Iterator[str]:
    """The stand-in on a free loopback port; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Drifted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_check_url_detects_drift_per_format(drifted: str, tmp_path: Path) -> None:
    """Every format of the drifted deployment is reported with what differs, exit 1."""
    path = tmp_path / "autoconf.toml"
    path.write_text(to_toml(config(zone_files=[str(ZONE_FILE)])))
    code, report = run_check("--config", str(path), "--url", drifted, "alice@example.test")
    assert code == 1 and report["ok"] is False
    rows = {row["key"]: row for row in report["live"]}
    assert {k: r["status"] for k, r in rows.items()} == {
        "thunderbird": "disagree",
        "thunderbird-well-known": "error",
        "pox": "disagree",
        "pox-get": "disagree",
        "mobilesync": "disagree",
        "v2": "disagree",
    }
    differences = {
        k: {(d["what"], d["dns"], d["served"]) for d in r["differences"]} for k, r in rows.items()
    }
    assert differences["thunderbird"] == {
        ("incoming port", "993", "143"),
        ("incoming security", "tls", "starttls"),
        ("outgoing port", "465", "587"),
        ("outgoing security", "tls", "starttls"),
        ("outgoing username", "alice@example.test", "alice"),
    }
    assert differences["pox"] == {("incoming host", "mail.example.test", "old-mail.example.test")}
    assert differences["pox-get"] == {("outgoing security", "tls", "plain")}
    assert rows["thunderbird-well-known"]["error"] == "Content-Type text/html is not XML"
    assert differences["mobilesync"] == {
        ("Url", "https://mail.example.test/Microsoft-Server-ActiveSync",
         "https://old-mail.example.test/Microsoft-Server-ActiveSync"),
    }  # fmt: skip
    assert rows["v2"]["differences"][0]["served"].startswith("http://")


def test_check_url_text_table(drifted: str, tmp_path: Path) -> None:
    """The human form: one row per probe with its status, details indented, a last line."""
    path = tmp_path / "autoconf.toml"
    path.write_text(to_toml(config(zone_files=[str(ZONE_FILE)])))
    result = CliRunner().invoke(
        main, ["check", "--config", str(path), "--url", drifted, "--only", "pox", "example.test"]
    )
    lines = result.output.splitlines()
    assert result.exit_code == 1
    assert any(line.startswith("disagree  POX 2006a as Thunderbird reads it") for line in lines)
    assert (
        "incoming host: DNS says 'mail.example.test', served 'old-mail.example.test'"
        in result.output
    )
    assert lines[-1] == "DISAGREEMENTS FOUND"


@pytest.mark.parametrize("url", ["ftp://example.test", "example.test", "https://x.test/?a=1"])
def test_check_url_must_be_a_base_url(url: str) -> None:
    """--url takes an http(s) base URL; anything else is a usage error (exit 2)."""
    result = CliRunner().invoke(main, ["check", "--url", url, "example.com"])
    assert result.exit_code == 2 and "base URL" in result.output

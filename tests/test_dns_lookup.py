"""One live lookup's cost and trust: CPU when servers fail (issue 12, item 6), and the
warning when ``dns.dnssec`` trusts an AD bit that can be forged on the path (item 8)."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from autoconf import create_app
from autoconf import dns_source
from autoconf.cli import main
from autoconf.dns_source import LiveSource
from autoconf.model import Status
from tests.conftest import ZONE_FILE
from tests.conftest import config
from tests.knot import Knot
from tests.servers import to_toml

#: sendto() to the limited broadcast address fails at once with EACCES (no SO_BROADCAST):
#: a server that is unreachable without a packet leaving the host.
UNREACHABLE = "255.255.255.255"


@pytest.fixture(name="silent_port")
def fixture_silent_port() -> Iterator[int]:
    """A UDP port that receives queries and never answers (a black-holed resolver)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize("first", ["servfail", "unreachable"])
def test_failing_then_silent_server_costs_no_cpu(
    running_knot: Knot, silent_port: int, first: str
) -> None:
    """The first server answers SERVFAIL (Knot, for broken.test) or cannot be sent to; the
    question moves to the last server, which stays silent. The lookup then sleeps until
    the deadline: it used to poll with timeout 0 for the second half of the timeout (about
    one second of CPU here). Thread CPU time does not depend on the machine's load."""
    servers = {
        "servfail": (running_knot.address, running_knot.port),
        "unreachable": (UNREACHABLE, 53),
    }
    source = LiveSource(nameservers=[servers[first], ("127.0.0.1", silent_port)], timeout=2.0)
    question = ("_imaps._tcp.broken.test.", "SRV")
    cpu = time.thread_time()
    rrset = source.ask([question])[question]
    cpu = time.thread_time() - cpu
    assert rrset.status is Status.FAILED
    assert "timeout" in rrset.error
    assert cpu < 0.1, f"{cpu:.3f} s of CPU for one lookup"


REMOTE = "192.0.2.53"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize(
    ("dns", "warned"),
    [
        ({"dnssec": True, "nameservers": [REMOTE]}, True),
        ({"dnssec": True, "nameservers": ["127.0.0.1:5353", REMOTE]}, True),
        ({"dnssec": True, "nameservers": ["127.0.0.1:5353", "[::1]:5353"]}, False),
        ({"dnssec": True, "nameservers": ["[::ffff:127.0.0.1]:5353"]}, False),
        ({"dnssec": False, "nameservers": [REMOTE]}, False),
        ({"dnssec": True, "zone_files": [str(ZONE_FILE)], "nameservers": [REMOTE]}, False),
    ],
)
def test_start_up_warns_when_ad_can_be_forged(
    caplog: pytest.LogCaptureFixture, dns: dict[str, object], warned: bool
) -> None:
    """dnssec = true with a resolver off this host: the AD bit it trusts can be set by
    anyone on the path (RFC 6840 §5.7), so start-up warns and names the resolver."""
    with caplog.at_level(logging.WARNING, logger="autoconf"):
        create_app(config(**dns))  # building the app sends no query
    messages = [m for m in _warnings(caplog) if "dns.dnssec" in m]
    assert bool(messages) is warned
    if warned:
        assert REMOTE in messages[0] and "dns.nameservers" in messages[0]


@pytest.mark.parametrize(("system", "warned"), [("10.0.0.1", True), ("127.0.0.53", False)])
def test_start_up_warns_about_resolv_conf(
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    system: str,
    warned: bool,
) -> None:
    """An empty dns.nameservers means the resolvers of /etc/resolv.conf: judged the same."""
    monkeypatch.setattr(dns_source, "_system_nameservers", lambda: ((system, 53),))
    with caplog.at_level(logging.WARNING, logger="autoconf"):
        create_app(config(dnssec=True, nameservers=[]))
    messages = [m for m in _warnings(caplog) if "dns.dnssec" in m]
    assert bool(messages) is warned
    if warned:
        assert "/etc/resolv.conf" in messages[0] and system in messages[0]


def test_check_warns_when_ad_can_be_forged(running_knot: Knot, tmp_path: Path) -> None:
    """``check`` says it too, on stderr, so ``--json`` stays one JSON document. (The
    remote entry cannot be sent to, so no packet leaves the host; Knot answers.)"""
    path = tmp_path / "autoconf.toml"
    table = {"nameservers": [UNREACHABLE, running_knot.nameserver], "dnssec": True}
    path.write_text(to_toml({"dns": table, "domains": {"example.test": {}}}))
    result = CliRunner().invoke(main, ["check", "--json", "--config", str(path), "example.test"])
    assert result.exit_code == 0, result.output
    assert "warning: dns.dnssec = true" in result.stderr
    assert UNREACHABLE in result.stderr
    assert result.stdout.lstrip().startswith("{")
    table["nameservers"] = [running_knot.nameserver]
    path.write_text(to_toml({"dns": table, "domains": {"example.test": {}}}))
    result = CliRunner().invoke(main, ["check", "--config", str(path), "example.test"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr

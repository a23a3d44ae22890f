"""Fixtures of the real-client lab (tests/lab/lab.py), run with ``pytest -m lab``.

The lab needs root and network namespaces: without them its tests skip with the reason.
A missing Debian package (or PyPI client) is a skip too, except under ``CI=true``, where it
is a failure: CI must run the lab, not skip it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from tests.lab import mailservers
from tests.lab.lab import Lab
from tests.lab.mailservers import MailServers
from tests.lab.netns import NamespaceUnavailableError
from tests.lab.variants import ALIAS_ADDRESS
from tests.lab.variants import VARIANTS
from tests.servers import ROOT

#: Executables the lab itself needs, with the Debian package that ships each.
LAB_TOOLS = {
    "ip": "iproute2",
    "knotd": "knot",
    "kdig": "knot-dnsutils",
    "unbound": "unbound",
    "nginx": "nginx",
    "curl": "curl",
}


def require(tools: dict[str, str]) -> None:
    """Skip (fail under CI=true) unless every executable in ``tools`` is installed."""
    require_packages([pkg for exe, pkg in tools.items() if not _which(exe)])


def require_packages(missing: list[str]) -> None:
    """Skip (fail under CI=true) when any package is ``missing``."""
    if not missing:
        return
    message = f"the lab needs these Debian/PyPI packages: {' '.join(sorted(set(missing)))}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _which(exe: str) -> str | None:
    return shutil.which(exe) or shutil.which(exe, path="/usr/sbin:/sbin")


@pytest.fixture(name="lab", scope="session")
def fixture_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The whole lab for the session; namespace, processes and /etc/netns are removed after."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root (network namespaces, ports 53/80/443)")
    require(LAB_TOOLS)
    try:
        lab = Lab.start(tmp_path_factory.mktemp("lab"))
    except NamespaceUnavailableError as error:
        pytest.skip(f"network namespaces are unavailable here: {error}")
    yield lab
    lab.close()


@pytest.fixture(name="mail", scope="session")
def fixture_mail(lab: Lab) -> Iterator[MailServers]:
    """Dovecot, Postfix and Radicale behind the lab's names, for the session."""
    require_packages(mailservers.missing_tools())
    servers = mailservers.start(lab)
    yield servers
    mailservers.stop(lab, servers)


def _executable(name: str) -> str | None:
    """``name`` next to this Python (a venv's bin) or on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else _which(name)


def _probe(lab: Lab, client: str, *args: str) -> dict[str, Any]:
    """Run ``tests.lab.clients.<client>`` inside the lab; its JSON output."""
    done = lab.ns.run(
        sys.executable, "-m", f"tests.lab.clients.{client}", *args, timeout=240, cwd=ROOT
    )
    assert done.returncode == 0, f"{client} probe failed:\n{done.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(name="thunderbird", scope="session")
def fixture_thunderbird(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What Thunderbird found for every variant's address and the alias address (one
    Thunderbird run)."""
    require({"thunderbird": "thunderbird", "certutil": "libnss3-tools"})
    workdir = tmp_path_factory.mktemp("thunderbird")
    addresses = [*(v.address for v in VARIANTS), ALIAS_ADDRESS]
    return _probe(lab, "thunderbird", str(workdir), str(lab.ca_pem), *addresses)


@pytest.fixture(name="thunderbird_accounts", scope="session")
def fixture_thunderbird_accounts(
    lab: Lab, mail: MailServers, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Thunderbird's account setup for every served variant (one Thunderbird run, its own
    profile): found, verified, created, inbox fetched. Each inbox holds one message first
    (:func:`seed_inbox`), so fetching it has something to show."""
    require({"thunderbird": "thunderbird", "certutil": "libnss3-tools"})
    workdir = tmp_path_factory.mktemp("thunderbird-accounts")
    addresses = [v.address for v in VARIANTS if v.served]
    for address in addresses:
        mailservers.seed_inbox(mail, address, f"Welcome {address}")
    return _probe(
        lab, "thunderbird", "--accounts", str(workdir), str(lab.ca_pem), mailservers.PASSWORD,
        *addresses,
    )  # fmt: skip


@pytest.fixture(name="deltachat", scope="session")
def fixture_deltachat(
    lab: Lab, mail: MailServers, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """What Delta Chat configured for every variant's address and the alias address (one
    RPC server), and the message each configured account sent to itself."""
    server = _executable("deltachat-rpc-server")
    require_packages(
        ["deltachat-rpc-server"] * (server is None)
        + ["deltachat-rpc-client"] * (find_spec("deltachat_rpc_client") is None)
    )
    assert server is not None
    workdir = tmp_path_factory.mktemp("deltachat")
    addresses = [*(v.address for v in VARIANTS), ALIAS_ADDRESS]
    return _probe(lab, "deltachat", server, str(workdir), *addresses)


@pytest.fixture(name="dav_client", scope="session")
def fixture_dav_client(lab: Lab, mail: MailServers) -> dict[str, Any]:
    """What the ``caldav`` library did for alice@dav.lab.test, from the bare address."""
    require_packages(["caldav"] * (find_spec("caldav") is None))
    return _probe(lab, "dav", str(lab.ca_pem), "alice@dav.lab.test", mailservers.PASSWORD)


#: client -> (version, {domain: what it chose}), printed at the end of the run.
_REPORT: dict[str, tuple[str, dict[str, str]]] = {}


def report(client: str, version: str, domain: str, chosen: object) -> None:
    """Record what ``client`` chose for ``domain`` for the end-of-run summary."""
    _REPORT.setdefault(client, (version, {}))[1][domain] = _short(chosen)


def _short(chosen: object) -> str:
    if isinstance(chosen, dict) and "incoming" in chosen:
        servers = chosen["incoming"] + chosen["outgoing"]
        names = {0: "plain", 2: "starttls", 3: "tls"}
        text = ", ".join(
            f"{s['type']}:{s['hostname']}:{s['port']}:{names.get(s['socketType'])}" for s in servers
        )
        return f"{chosen['subSource']}: {text}"
    if isinstance(chosen, dict):
        return " ".join(f"{k}:[{', '.join(v)}]" for k, v in chosen.items())
    return "nothing" if chosen is None else str(chosen)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Each real client, its version and what it chose per variant (tests/lab/README.md)."""
    if not _REPORT:
        return
    terminalreporter.section("real-client lab: what each client chose")
    for client, (version, chosen) in _REPORT.items():
        for domain, text in chosen.items():
            terminalreporter.write_line(f"{client} {version} | {domain} | {text}")

"""deploy/Caddyfile: validated by Caddy, and run for real on loopback in front of a stand-in.

The copy under test (tests/deploy/caddy_site.py) gets free ports, throwaway trustme
certificates, a temp log file and the stand-in upstream. The refusal of /readyz and /metrics
and the answers for several domains are checked in front of the real app in
test_deploy_caddy_app.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy._support import HOSTS
from tests.deploy._support import ODD_ADDRESS_PATHS
from tests.deploy._support import OTHER_HTTP_PATHS
from tests.deploy._support import OUTLOOK_HTTP_PATHS
from tests.deploy._support import SECRET_AUTH
from tests.deploy._support import SECRET_QUERY
from tests.deploy._support import Upstream
from tests.deploy._support import check_body_over_cap_refused
from tests.deploy._support import check_body_under_cap_passes
from tests.deploy._support import check_metrics_not_exposed
from tests.deploy._support import check_other_http_redirected
from tests.deploy._support import check_outlook_http_step
from tests.deploy._support import check_tls_ask_not_exposed
from tests.deploy._support import check_unknown_host_on_80_silent
from tests.deploy._support import check_unknown_sni_rejected
from tests.deploy._support import http_request
from tests.deploy._support import https_request
from tests.deploy._support import run_upstream
from tests.deploy.caddy_site import CaddySite
from tests.deploy.caddy_site import build_site
from tests.deploy.caddy_site import caddy_env
from tests.deploy.caddy_site import running as run_caddy
from tests.deploy.conftest import require_module

trustme = require_module("trustme")


@pytest.fixture(scope="module")
def caddy(binary: Callable[[str], str]) -> str:
    return binary("caddy")


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with run_upstream() as state:
        yield state


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    ports: Callable[[], int],
    upstream: Upstream,
) -> CaddySite:
    return build_site(tmp_path_factory.mktemp("caddy"), ports, upstream.port)


@pytest.fixture(scope="module")
def running(caddy: str, site: CaddySite) -> Iterator[CaddySite]:
    with run_caddy(caddy, site):
        yield site


def test_caddy_validates_shipped_file(caddy: str, deploy_dir: Path, tmp_path: Path) -> None:
    """`caddy validate` accepts deploy/Caddyfile exactly as shipped."""
    result = subprocess.run(
        [caddy, "validate", "--config", str(deploy_dir / "Caddyfile"), "--adapter", "caddyfile"],
        env=caddy_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Valid configuration" in result.stdout + result.stderr


def test_caddyfile_is_formatted(caddy: str, deploy_dir: Path) -> None:
    """deploy/Caddyfile is in `caddy fmt` form (an admin's `caddy fmt` leaves it unchanged)."""
    result = subprocess.run(
        [caddy, "fmt", str(deploy_dir / "Caddyfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (deploy_dir / "Caddyfile").read_text()


def test_adapted_json_has_limits(caddy: str, deploy_dir: Path, tmp_path: Path) -> None:
    """The adapted config caps bodies at 16 KiB and deletes Authorization before proxying."""
    result = subprocess.run(
        [caddy, "adapt", "--config", str(deploy_dir / "Caddyfile"), "--adapter", "caddyfile"],
        env=caddy_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    dumped = json.dumps(json.loads(result.stdout))
    assert '"max_size": 16384' in dumped
    assert re.search(r'"request": \{"delete": \["Authorization"', dumped)
    assert '"dial": "127.0.0.1:8000"' in dumped


def test_authorization_not_forwarded(running: CaddySite, upstream: Upstream) -> None:
    """Credentials sent by the client never reach the app; X-Forwarded-For is Caddy's own."""
    status, _, _ = https_request(
        running,
        "POST",
        "/Autodiscover/Autodiscover.xml?marker=caddy-auth",
        host="autodiscover.example.com",
        headers={"Authorization": SECRET_AUTH, "X-Forwarded-For": "203.0.113.9"},
        body=b"<Autodiscover/>",
    )
    assert status == 200
    seen = upstream.last("caddy-auth")
    assert "authorization" not in seen.headers
    assert seen.body == b"<Autodiscover/>"
    assert seen.headers["x-forwarded-proto"] == "https"
    assert "203.0.113.9" not in seen.headers.get("x-forwarded-for", "")


def test_metrics_not_exposed(running: CaddySite, upstream: Upstream) -> None:
    """/metrics is answered 404 by Caddy itself; Prometheus scrapes gunicorn directly."""
    check_metrics_not_exposed(running, upstream, "caddy-metrics")


def test_tls_ask_not_exposed(running: CaddySite, upstream: Upstream) -> None:
    """/tls-ask is for Caddy's on-demand TLS on loopback: Caddy answers 404 itself."""
    check_tls_ask_not_exposed(running, upstream, "caddy-tlsask")


def test_body_under_16k_is_passed(running: CaddySite, upstream: Upstream) -> None:
    """A 15 KiB POST reaches the app whole: the 413 below is the size limit, not POST."""
    check_body_under_cap_passes(running, upstream, "caddy-ok")


def test_body_over_16k_gets_413(running: CaddySite, upstream: Upstream) -> None:
    """A 20 KiB POST is refused with 413 and does not reach the app."""
    check_body_over_cap_refused(running, upstream, "caddy-big")


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", OUTLOOK_HTTP_PATHS)
def test_outlook_http_step_gets_302(running: CaddySite, method: str, path: str) -> None:
    """http://autodiscover.<d>/autodiscover/autodiscover.xml (any case) is a 302 to https."""
    check_outlook_http_step(running, method, path)


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("path", OTHER_HTTP_PATHS)
def test_other_http_gets_301(running: CaddySite, upstream: Upstream, host: str, path: str) -> None:
    """Everything else on port 80 is a 301 to the same URL on https, never the app."""
    check_other_http_redirected(running, upstream, host, path)


def test_unknown_host_on_80_gets_no_response(running: CaddySite) -> None:
    """An unknown Host on port 80 gets the connection closed without an answer."""
    check_unknown_host_on_80_silent(running)


def test_unknown_sni_fails_handshake(running: CaddySite) -> None:
    """An unknown SNI name on 443 gets no certificate."""
    check_unknown_sni_rejected(running)


def test_access_log_has_no_query_or_authorization(running: CaddySite) -> None:
    """Caddy's access log keeps the path but drops query strings and Authorization values."""
    https_request(
        running,
        "GET",
        f"/mail/config-v1.1.xml?{SECRET_QUERY}",
        headers={"Authorization": SECRET_AUTH},
    )
    http_request(running, "GET", f"/mail/config-v1.1.xml?{SECRET_QUERY}", host=HOSTS[0])
    https_request(
        running,
        "GET",
        "/AutoDiscover/AutoDiscover.json/v1.0/v2-marker@example.com?Protocol=AutodiscoverV1",
        host=HOSTS[1],
    )
    deadline = time.monotonic() + 5
    text = ""
    while time.monotonic() < deadline and text.count("\n") < 3:
        text = running.access_log.read_text() if running.access_log.exists() else ""
        time.sleep(0.1)
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(entry["request"]["uri"] == "/mail/config-v1.1.xml" for entry in entries), text
    assert any(
        entry["request"]["uri"] == "/AutoDiscover/AutoDiscover.json/v1.0/" for entry in entries
    ), text
    for secret in ("query-marker", "hunter2", "emailaddress=", "c2VjcmV0", "v2-marker"):
        assert secret not in text


def test_access_log_redacts_addresses_in_odd_path_forms(running: CaddySite) -> None:
    """An address anywhere in the path, with "@" or "%40" (encoded once or more), doubled
    slashes or odd letter case, never reaches the log; the path before it does."""
    before = running.access_log.read_text().count("\n") if running.access_log.exists() else 0
    for path in ODD_ADDRESS_PATHS:
        https_request(running, "GET", path, host=HOSTS[1])
    deadline = time.monotonic() + 5
    text = ""
    while time.monotonic() < deadline and text.count("\n") < before + len(ODD_ADDRESS_PATHS):
        text = running.access_log.read_text() if running.access_log.exists() else ""
        time.sleep(0.1)
    uris = [json.loads(line)["request"]["uri"] for line in text.splitlines()[before:]]
    assert len(uris) == len(ODD_ADDRESS_PATHS), text
    assert "marker" not in "".join(uris), uris
    assert "/mail/config-v1.1.xml/" in uris
    assert "//autodiscover/autodiscover.json//v1.0/" in uris

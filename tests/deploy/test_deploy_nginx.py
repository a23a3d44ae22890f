"""The shipped nginx vhost, checked by a real nginx.

The vhost is copied to a temp prefix (tests/deploy/nginx_site.py), checked with ``nginx -t``
and then run in front of a stand-in upstream that records what reaches it. The cache and the
refusal of /readyz and /metrics are checked in front of the real app in
test_deploy_nginx_cache.py.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
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
from tests.deploy._support import SNIConnection
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
from tests.deploy._support import tls_context
from tests.deploy.conftest import require_module
from tests.deploy.nginx_site import Site
from tests.deploy.nginx_site import build_site
from tests.deploy.nginx_site import nginx_test
from tests.deploy.nginx_site import running as run_nginx

trustme = require_module("trustme")


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with run_upstream() as state:
        yield state


@pytest.fixture(scope="module")
def nginx_bin(binary: Callable[[str], str]) -> str:
    return binary("nginx")


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    ports: Callable[[], int],
    upstream: Upstream,
) -> Site:
    return build_site(tmp_path_factory.mktemp("nginx"), ports, upstream.port)


@pytest.fixture(scope="module")
def running(nginx_bin: str, site: Site) -> Iterator[Site]:
    with run_nginx(nginx_bin, site):
        yield site


# ---------------------------------------------------------------------------------------------
# Tests: configuration check
# ---------------------------------------------------------------------------------------------


def test_nginx_t_accepts_vhost(nginx_bin: str, site: Site) -> None:
    """`nginx -t` accepts the shipped vhost (ports/paths rewritten) without warnings."""
    result = nginx_test(nginx_bin, site)
    output = result.stderr + result.stdout
    assert result.returncode == 0, output
    assert "test is successful" in output
    assert "[warn]" not in output, output


def test_log_format_has_no_request_line_query_or_credentials(deploy_dir: Path) -> None:
    """The access log logs the path ($uri, with addresses mapped away) and none of $request,
    $args, $query_string, Authorization."""
    text = (deploy_dir / "nginx" / "autoconf.conf").read_text()
    match = re.search(r"log_format autoconf_json\b(.*?);\n", text, re.S)
    assert match, "log_format autoconf_json not found"
    fmt = match.group(1)
    assert '"path":"$autoconf_log_path"' in fmt
    # The mapped variable comes from $uri (path only), never from the request line.
    assert re.search(r"map \$uri \$autoconf_log_path \{\n.*?default\s+\$uri;", text, re.S)
    for banned in (
        '$request"',
        "$request ",
        "$request_uri",
        "$args",
        "$arg_",
        "$query_string",
        "$http_authorization",
        "$remote_user",
        "$http_cookie",
    ):
        assert banned not in fmt, banned
    assert not re.search(r"\$request(?![_a-z])", fmt)


def test_limits_in_every_serving_block(deploy_dir: Path) -> None:
    """Both vhost server blocks cap bodies at 16k; Authorization stripped; loopback upstream."""
    text = (deploy_dir / "nginx" / "autoconf.conf").read_text()
    active = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert active.count("client_max_body_size 16k;") >= 2
    assert 'proxy_set_header Authorization "";' in active
    assert "server 127.0.0.1:8000;" in active
    assert "ssl_reject_handshake on;" in active
    assert "return 444;" in active
    assert "limit_req zone=" in active


# ---------------------------------------------------------------------------------------------
# Tests: behaviour of the running nginx
# ---------------------------------------------------------------------------------------------


def test_authorization_and_cookie_not_forwarded(running: Site, upstream: Upstream) -> None:
    """Credentials the client volunteers never reach the app; the request itself does."""
    status, _, body = https_request(
        running,
        "POST",
        "/Autodiscover/Autodiscover.xml?marker=auth-strip",
        host="autodiscover.example.com",
        headers={"Authorization": SECRET_AUTH, "Cookie": "session=abc", "Content-Type": "text/xml"},
        body=b"<Autodiscover/>",
    )
    assert status == 200 and body == b"<ok/>"
    seen = upstream.last("auth-strip")
    assert "authorization" not in seen.headers
    assert "cookie" not in seen.headers
    assert seen.body == b"<Autodiscover/>"
    assert seen.method == "POST"


def test_metrics_not_exposed(running: Site, upstream: Upstream) -> None:
    """/metrics is answered 404 by nginx itself; Prometheus scrapes gunicorn directly."""
    check_metrics_not_exposed(running, upstream, "metrics-edge")


def test_tls_ask_not_exposed(running: Site, upstream: Upstream) -> None:
    """/tls-ask is for Caddy's on-demand TLS on loopback: nginx answers 404 itself."""
    check_tls_ask_not_exposed(running, upstream, "tlsask-edge")


def test_forwarded_headers_set_by_proxy(running: Site, upstream: Upstream) -> None:
    """X-Forwarded-* come from nginx: the client's own X-Forwarded-For is replaced, not appended."""
    https_request(
        running,
        "GET",
        "/mail/config-v1.1.xml?marker=xff",
        headers={"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "http", "Proxy": "x"},
    )
    seen = upstream.last("marker=xff")
    assert seen.headers["x-forwarded-for"] == "127.0.0.1"
    assert seen.headers["x-forwarded-proto"] == "https"
    assert seen.headers["x-forwarded-host"] == "autoconfig.example.com"
    assert seen.headers["host"] == "autoconfig.example.com"
    assert "proxy" not in seen.headers


def test_upstream_401_challenge_is_hidden(running: Site) -> None:
    """Even if the app answered 401, no WWW-Authenticate challenge reaches the client."""
    status, headers, _ = https_request(running, "GET", "/want-401")
    assert status == 401
    assert "www-authenticate" not in headers


def test_body_over_16k_gets_413_from_nginx(running: Site, upstream: Upstream) -> None:
    """A 20 KiB POST is refused by nginx (413) and never reaches the app."""
    check_body_over_cap_refused(running, upstream, "big-body")


def test_body_under_16k_is_passed(running: Site, upstream: Upstream) -> None:
    """A 15 KiB POST (under the cap) passes whole: the 413 above is the size limit, not POST."""
    check_body_under_cap_passes(running, upstream, "ok-body")


def test_unknown_sni_fails_tls_handshake(running: Site) -> None:
    """On 443 a name that is not ours gets no certificate: the handshake is rejected."""
    check_unknown_sni_rejected(running)


def test_known_sni_handshake_presents_our_certificate(running: Site) -> None:
    """Positive control for the test above: our names complete a verified handshake."""
    for host in HOSTS:
        with (
            socket.create_connection(("127.0.0.1", running.https_port), timeout=5) as raw,
            tls_context(running).wrap_socket(raw, server_hostname=host) as tls,
        ):
            assert tls.version() in {"TLSv1.2", "TLSv1.3"}


def test_unknown_host_on_80_gets_no_response(running: Site) -> None:
    """On port 80 an unknown Host is answered with nothing at all (444 closes the connection)."""
    check_unknown_host_on_80_silent(running)


def test_unknown_host_on_443_with_our_sni_is_refused(running: Site) -> None:
    """A known SNI but a foreign Host header does not reach the app either (nginx answers 421)."""
    conn = SNIConnection(running.https_port, "autoconfig.example.com", tls_context(running))
    try:
        conn.request("GET", "/", headers={"Host": "www.attacker.example"})
        status = conn.getresponse().status
    except (http.client.RemoteDisconnected, ConnectionResetError):
        status = 0
    finally:
        conn.close()
    assert status in {0, 421}


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", OUTLOOK_HTTP_PATHS)
def test_outlook_http_step_gets_302_to_https(running: Site, method: str, path: str) -> None:
    """http://autodiscover.<d>/autodiscover/autodiscover.xml (any case) is a 302 to https."""
    check_outlook_http_step(running, method, path)


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("path", OTHER_HTTP_PATHS)
def test_other_http_requests_get_301_to_https(
    running: Site, upstream: Upstream, host: str, path: str
) -> None:
    """Everything else on port 80 is a 301 to the same URL on https, and never reaches the app."""
    check_other_http_redirected(running, upstream, host, path)


def test_https_passes_paths_and_queries_to_app(running: Site, upstream: Upstream) -> None:
    """On https the app receives the path and query unchanged (it needs ?emailaddress=)."""
    status, _, _ = https_request(
        running, "GET", "/mail/config-v1.1.xml?emailaddress=bob%40example.com"
    )
    assert status == 200
    assert (
        upstream.last("bob%40example.com").path
        == "/mail/config-v1.1.xml?emailaddress=bob%40example.com"
    )


def test_access_log_has_no_query_string_or_authorization(running: Site) -> None:
    """Access and vhost error logs hold the path but no query string and no Authorization value."""
    https_request(
        running,
        "GET",
        f"/mail/config-v1.1.xml?{SECRET_QUERY}",
        headers={"Authorization": SECRET_AUTH},
    )
    http_request(
        running, "GET", f"/mail/config-v1.1.xml?{SECRET_QUERY}", host="autoconfig.example.com"
    )
    https_request(
        running,
        "POST",
        f"/autodiscover/autodiscover.xml?{SECRET_QUERY}",
        host="autodiscover.example.com",
        headers={"Authorization": SECRET_AUTH},
        body=b"z" * (20 * 1024),
    )
    https_request(
        running,
        "GET",
        "/AutoDiscover/AutoDiscover.json/v1.0/v2-marker@example.com?Protocol=AutodiscoverV1",
        host="autodiscover.example.com",
    )
    https_request(running, "GET", "/x/at-marker@example.com/y")
    log = running.access_log.read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert any(entry["path"] == "/mail/config-v1.1.xml" for entry in lines)
    assert any(
        entry["path"] == "/AutoDiscover/AutoDiscover.json/v1.0/-redacted-" for entry in lines
    )
    assert "v2-marker" not in log and "at-marker" not in log
    assert any(entry["status"] == 413 for entry in lines)
    for text in (
        log,
        running.vhost_error_log.read_text() if running.vhost_error_log.exists() else "",
    ):
        for secret in ("query-marker", "hunter2", "emailaddress=", "c2VjcmV0", "secret-password"):
            assert secret not in text


def test_access_log_redacts_addresses_in_odd_path_forms(running: Site) -> None:
    """An address anywhere in the path, with "@" or "%40" (encoded once or more), doubled
    slashes or odd letter case, never reaches the log (nginx logs the decoded, slash-merged
    $uri through the map)."""
    for path in ODD_ADDRESS_PATHS:
        https_request(running, "GET", path, host="autodiscover.example.com")
    log = running.access_log.read_text()
    paths = [json.loads(line)["path"] for line in log.splitlines() if line.strip()]
    assert "marker" not in "".join(paths[-len(ODD_ADDRESS_PATHS) :]), paths
    assert "marker" not in log


def test_rate_limit_answers_429(running: Site, upstream: Upstream) -> None:
    """A burst far above the limit (10 r/s, burst 40) is cut off with 429 before the app."""
    before = upstream.count("marker=flood")
    statuses = []
    # One kept-alive connection, so the 150 requests arrive far faster than 10 per second.
    conn = SNIConnection(running.https_port, "autoconfig.example.com", tls_context(running))
    try:
        for _ in range(150):
            conn.request("GET", "/healthz?marker=flood", headers={"Host": "autoconfig.example.com"})
            resp = conn.getresponse()
            resp.read()
            statuses.append(resp.status)
    finally:
        conn.close()
    assert 429 in statuses
    assert statuses.count(200) >= 10
    assert upstream.count("marker=flood") - before == statuses.count(200)

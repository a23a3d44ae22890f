"""End to end through a real gunicorn, with answers from a real Knot DNS."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from tests.conftest import config
from tests.knot import Knot
from tests.processes import stop
from tests.servers import gunicorn


def test_thunderbird_through_gunicorn(running_knot: Knot, tmp_path: Path) -> None:
    """wsgi:app under gunicorn answers from Knot; the access log has no query string and
    no credentials."""
    with gunicorn(config(nameservers=[running_knot.nameserver], timeout=1.0), tmp_path) as server:
        status, headers, body = server.get(
            "/mail/config-v1.1.xml?emailaddress=alice%40example.test&password=hunter2",
            headers={"Authorization": "Basic YWxpY2U6aHVudGVyMg=="},
        )
        assert status == 200
        assert headers["Content-Type"] == "text/xml; charset=utf-8"
        root = etree.fromstring(body)
        assert root.find("emailProvider/incomingServer/hostname").text == "mail.example.test"
        status, _, body = server.get(
            "/.well-known/autoconfig/mail/config-v1.1.xml", headers={"Host": "example.test"}
        )
        assert status == 200
        status, _, body = server.get("/mail/config-v1.1.xml?emailaddress=a%40unknown.test")
        assert (status, body) == (404, b"")
        status, headers, _ = server.get("/mail/config-v1.1.xml?emailaddress=a%40broken.test")
        assert status == 503 and "Retry-After" in headers
    log = server.log
    assert "GET /mail/config-v1.1.xml" in log
    for secret in ("hunter2", "YWxpY2U6aHVudGVyMg", "alice", "emailaddress"):
        assert secret not in log


def test_embedded_default_through_gunicorn(tmp_path: Path) -> None:
    """With no configuration the service answers for example.com, offline."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.knot import free_port
    from tests.servers import ROOT

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOCONF_")}
    # Run from elsewhere, so only the package (not the checkout's cwd) can supply the
    # bundled example; PYTHONPATH covers runs without an installed package.
    env["PYTHONPATH"] = str(ROOT)
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "autoconf",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}/mail/config-v1.1.xml?emailaddress=alice%40example.com"
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    body = response.read()
                break
            except OSError:
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.1)
        root = etree.fromstring(body)
        assert root.find("emailProvider").get("id") == "example.com"
        assert root.find("emailProvider/outgoingServer/port").text == "465"
    finally:
        stop(process)
        log.close()

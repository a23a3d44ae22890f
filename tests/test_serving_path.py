"""One production serving path: ``mail-autoconf serve`` and the deployments' command
(``gunicorn -c python:autoconf.gunicorn_conf autoconf.wsgi:app``) are the same server.

Both are started for real; their effective gunicorn settings (gunicorn's own dump at debug
level) and everything they log for the same hostile requests must be identical.
"""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ZONE_FILE
from tests.conftest import config
from tests.processes import stop
from tests.servers import Server
from tests.servers import deployed_gunicorn
from tests.servers import served

SECRET = "hunter2"
MARK = "alice.secret"
BASIC = "Basic YWxpY2U6aHVudGVyMg=="  # alice:hunter2

#: Raw requests (an HTTP library would refuse or fix most of them).
HOSTILE = [
    # Autodiscover v2 carries the address in the path.
    f"GET /autodiscover/autodiscover.json/v1.0/{MARK}@example.test?Protocol=AutodiscoverV1 "
    "HTTP/1.1\r\nHost: autodiscover.example.test\r\nConnection: close\r\n\r\n",
    # %0a in the path: a second, forged access log line if the newline were written as is.
    "GET /mail/config-v1.1.xml%0a%7B%22forged%22:%20%22line%22%7D HTTP/1.1\r\n"
    "Host: autoconfig.example.test\r\nConnection: close\r\n\r\n",
    # Quote and backslash in the path and the User-Agent; a password in the query;
    # credentials in Authorization.
    f"GET /a%22b%5Cc?emailaddress={MARK}%40example.test&password={SECRET} HTTP/1.1\r\n"
    f'Host: autoconfig.example.test\r\nAuthorization: {BASIC}\r\nUser-Agent: x"\\y\r\n'
    "Connection: close\r\n\r\n",
    # Malformed: gunicorn quotes the offending fragment in its warning.
    f"GET /mail/config-v1.1.xml?password={SECRET} {MARK} HTTP/1.1\r\nHost: a\r\n\r\n",
]

#: JSON fields that differ between any two runs.
VOLATILE = {"time", "pid", "duration_us", "latency_ms"}


def exchange(server: Server, request: str) -> bytes:
    """Send ``request`` as it is; the whole answer (the server closes the connection)."""
    host, port = server.url.removeprefix("http://").split(":")
    answer = b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request.encode())
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def effective_settings(log: str) -> dict[str, str]:
    """gunicorn's "Current configuration" dump (logged by the master at debug level)."""
    lines = log.splitlines()
    dump = [i for i, line in enumerate(lines) if line.endswith("Current configuration:")]
    assert dump, f"no settings dump: AUTOCONF_LOG_LEVEL=debug was not applied\n{log}"
    start = dump[0]
    settings = {}
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        name, _, value = line.strip().partition(": ")
        settings[name] = re.sub(r" at 0x[0-9a-f]+", "", value)  # function and object ids
    return settings


def normalised(log: str) -> list[Any]:
    """Each line with what differs between runs (times, pids, durations) taken out."""
    entries: list[Any] = []
    for line in log.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)  # every JSON-looking line must be one whole object
            entries.append({k: v for k, v in entry.items() if k not in VOLATILE})
        else:
            entries.append(re.sub(r"^\[[^]]+\] \[\d+\] ", "", line))
    return entries


def hostile_run(server: Server) -> tuple[list[bytes], str]:
    """The answers to HOSTILE and the log lines they caused (the server is stopped)."""
    # gunicorn writes an access line after sending the answer: wait for the start-up
    # probe's (tests.servers) so that it cannot land among the hostile requests' lines.
    deadline = time.monotonic() + 20
    while '"path": "/mail/config-v1.1.xml"' not in server.log:
        assert time.monotonic() < deadline, server.log
        time.sleep(0.05)
    before = len(server.log)
    answers = [exchange(server, request) for request in HOSTILE]
    stop(server.process, timeout=20)
    during = server.log[before:]
    return answers, during.split("Handling signal: term")[0].rsplit("\n", 1)[0]


@pytest.mark.gunicorn
def test_serve_and_the_deployed_command_are_one_server(tmp_path: Path) -> None:
    """`mail-autoconf serve --workers 1 --threads 2` and the deployments' gunicorn command
    (knobs in its environment) run with identical effective settings apart from the bind
    address, and log the same lines for the same hostile requests: JSON access lines, the
    address redacted, no forged line, no secret."""
    mapping = config(zone_files=[str(ZONE_FILE)])
    debug = {"AUTOCONF_LOG_LEVEL": "debug"}
    runs = {}
    for name in ("serve", "deployed"):
        (tmp_path / name).mkdir()
    with served(
        mapping, tmp_path / "serve", args=("--workers", "1", "--threads", "2"), env=debug
    ) as s:
        runs["serve"] = (effective_settings(s.log), *hostile_run(s))
    knobs = {**debug, "AUTOCONF_WORKERS": "1", "AUTOCONF_THREADS": "2"}
    with deployed_gunicorn(mapping, tmp_path / "deployed", env=knobs) as d:
        runs["deployed"] = (effective_settings(d.log), *hostile_run(d))

    (serve_cfg, serve_answers, serve_log), (cfg, answers, log) = runs["serve"], runs["deployed"]
    assert serve_cfg.pop("bind") != cfg.pop("bind")
    assert serve_cfg == cfg
    assert cfg["config"] == "python:autoconf.gunicorn_conf"
    assert cfg["worker_class"] == "autoconf.gunicorn_worker.ClientTimeoutWorker"
    assert (cfg["workers"], cfg["threads"], cfg["control_socket_disable"]) == ("1", "2", "True")
    assert cfg["limit_request_line"] == "2048"
    assert "JsonAccessLogger" in cfg["logger_class"]

    statuses = [answer.split(b" ", 2)[1] for answer in answers]
    assert statuses == [b"200", b"404", b"404", b"400"]
    assert [a.split(b"\r\n", 1)[0] for a in serve_answers] == [
        a.split(b"\r\n", 1)[0] for a in answers
    ]
    assert normalised(serve_log) == normalised(log)

    for needle in (SECRET, MARK, BASIC.split()[1], "password", "Authorization"):
        assert needle not in log, needle
    access = [entry for entry in normalised(log) if isinstance(entry, dict) and "path" in entry]
    assert [entry["path"] for entry in access] == [
        "/autodiscover/autodiscover.json/v1.0/-redacted-",
        '/mail/config-v1.1.xml\n{"forged": "line"}',
        '/a"b\\c',
    ]
    assert access[2]["user_agent"] == 'x"\\y'
    # Typed like the app's own lines: ISO 8601 UTC time, JSON numbers.
    raw = [json.loads(ln) for ln in log.splitlines() if ln.startswith("{") and '"logger"' not in ln]
    assert [entry["status"] for entry in raw] == [200, 404, 404]
    for entry in raw:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"]), entry
        assert all(type(entry[k]) is int for k in ("status", "bytes", "duration_us", "pid")), entry
    assert raw[0]["bytes"] > 0
    assert not any(isinstance(e, dict) and "forged" in e for e in normalised(log))
    assert "Invalid request from ip=127.0.0.1: Invalid HTTP Version: -redacted-" in log


@pytest.mark.gunicorn
@pytest.mark.parametrize("way", ["serve", "deployed"])
def test_text_logging_applies_from_the_first_line(tmp_path: Path, way: str) -> None:
    """With `logging.format = "text"` every line of the service's own loggers is text,
    the start-up line ("serving N domain(s)") included, whichever way it is started."""
    mapping = {**config(zone_files=[str(ZONE_FILE)]), "logging": {"format": "text"}}
    start = served if way == "serve" else deployed_gunicorn
    with start(mapping, tmp_path) as server:
        server.get("/mail/config-v1.1.xml", headers={"Host": "autoconfig.example.test"})
        stop(server.process, timeout=20)
    lines = server.log.splitlines()
    assert any(re.match(r"^\S+Z INFO +autoconf\.app: serving \d+ domain", ln) for ln in lines)
    assert any(re.match(r"^\S+Z INFO +autoconf\.request: request ", ln) for ln in lines)
    own = [ln for ln in lines if ln.startswith("{") and '"logger": "autoconf' in ln]
    assert own == []

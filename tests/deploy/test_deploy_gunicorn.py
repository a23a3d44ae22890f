"""autoconf.gunicorn_conf, the settings every deployment runs with: the values it sets, its
hooks, and a real gunicorn running with it."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gunicorn
import pytest
from gunicorn.config import Config

from tests.processes import stop
from tests.servers import gunicorn_settings

CONF_ENV = (
    "AUTOCONF_BIND",
    "AUTOCONF_WORKERS",
    "AUTOCONF_THREADS",
    "AUTOCONF_CLIENT_TIMEOUT",
    "AUTOCONF_LOG_LEVEL",
    "FORWARDED_ALLOW_IPS",
    "PROMETHEUS_MULTIPROC_DIR",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in CONF_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


SHIPPED = ["-c", "python:autoconf.gunicorn_conf", "autoconf.wsgi:app"]


def as_gunicorn_config(namespace: dict[str, Any]) -> Config:
    """Feed the module's names through gunicorn's own validators, as `-c` does."""
    cfg = Config()
    for key, value in namespace.items():
        if key in cfg.settings:
            cfg.set(key, value)
    return cfg


def test_gunicorn_is_at_least_23() -> None:
    """The installed gunicorn has the Transfer-Encoding smuggling fixes (>= 23.0)."""
    major = int(gunicorn.__version__.split(".")[0])
    assert major >= 23


def test_key_values(clean_env: pytest.MonkeyPatch) -> None:
    """gthread, loopback bind, limits and worker recycling are set and accepted by gunicorn."""
    cfg = as_gunicorn_config(gunicorn_settings())
    assert cfg.worker_class_str == "autoconf.gunicorn_worker.ClientTimeoutWorker"
    from gunicorn.workers.gthread import ThreadWorker

    assert issubclass(cfg.worker_class, ThreadWorker)
    assert cfg.bind == ["127.0.0.1:8000"]
    assert cfg.workers >= 2
    assert cfg.threads == 4
    assert cfg.max_requests == 2000
    assert cfg.max_requests_jitter == 200
    # Far above the DNS budget (~2.5 s), and graceful shutdown finishes before systemd/k8s kill.
    assert cfg.timeout >= 4 * 2.5
    assert 2.5 < cfg.graceful_timeout < 30
    assert cfg.keepalive == 5
    assert cfg.limit_request_line == 2048
    assert cfg.limit_request_fields == 50
    assert cfg.limit_request_field_size == 8190
    assert cfg.forwarded_allow_ips == ["127.0.0.1", "::1"]
    assert cfg.accesslog == "-"
    assert cfg.control_socket_disable is True


def test_env_overrides(clean_env: pytest.MonkeyPatch) -> None:
    """Bind, worker/thread counts and trusted proxies come from the environment when set."""
    clean_env.setenv("AUTOCONF_BIND", "0.0.0.0:8080, [::]:8080")
    clean_env.setenv("AUTOCONF_WORKERS", "3")
    clean_env.setenv("AUTOCONF_THREADS", "6")
    clean_env.setenv("FORWARDED_ALLOW_IPS", "10.0.0.5")
    cfg = as_gunicorn_config(gunicorn_settings())
    assert cfg.bind == ["0.0.0.0:8080", "[::]:8080"]
    assert cfg.workers == 3
    assert cfg.threads == 6
    assert cfg.forwarded_allow_ips == ["10.0.0.5"]


def test_bad_worker_count_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    """An out-of-range AUTOCONF_WORKERS stops start-up instead of being used."""
    clean_env.setenv("AUTOCONF_WORKERS", "0")
    with pytest.raises(ValueError, match="AUTOCONF_WORKERS"):
        gunicorn_settings()


def test_old_gunicorn_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the file under a gunicorn older than 23 raises instead of serving."""
    monkeypatch.setattr(gunicorn, "__version__", "22.0.0")
    with pytest.raises(RuntimeError, match="gunicorn >= 23"):
        gunicorn_settings()


def test_access_log_format_has_path_only(clean_env: pytest.MonkeyPatch) -> None:
    """The access log format logs %(U)s and never the request line, query, user or Authorization."""
    fmt = gunicorn_settings()["access_log_format"]
    assert "%(U)s" in fmt
    for atom in ("%(r)s", "%(q)s", "%(u)s"):  # atoms are case-sensitive: %(U)s is the path
        assert atom not in fmt, atom
    for header in ("{authorization}i", "{cookie}i", "{query_string}e", "{raw_uri}e"):
        assert header not in fmt.lower(), header


def _format_line(namespace: dict[str, Any], path: str, user_agent: str, sent: int | None) -> str:
    """The access line gunicorn writes for a GET of ``path``: the logger's own atoms (the
    redaction and the integer fields included), wrapped and formatted as gunicorn does."""
    logger = namespace["JsonAccessLogger"](as_gunicorn_config(namespace))
    atoms = logger.atoms(
        SimpleNamespace(status="200 OK", sent=sent, headers=[]),
        SimpleNamespace(headers=[("USER-AGENT", user_agent)]),
        {"REQUEST_METHOD": "GET", "RAW_URI": "/", "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": path},
        timedelta(microseconds=10),
    )
    return str(namespace["access_log_format"] % logger.atoms_wrapper_class(atoms))


def test_access_log_lines_are_json_even_for_hostile_paths(clean_env: pytest.MonkeyPatch) -> None:
    """Quotes, backslashes and newlines in a path or User-Agent still give one valid JSON line,
    with the time in ISO 8601 UTC and the numbers as JSON numbers."""
    namespace = gunicorn_settings()
    assert namespace["logger_class"] is namespace["JsonAccessLogger"]
    hostile = '/a"b\\c\n{"forged": 1}'
    line = _format_line(namespace, hostile, 'x"\\', sent=5)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["path"] == hostile
    assert entry["user_agent"] == 'x"\\'
    assert entry["method"] == "GET"
    assert (entry["status"], entry["bytes"], entry["duration_us"]) == (200, 5, 10)
    assert entry["pid"] == os.getpid()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])


@pytest.mark.parametrize(("status", "sent"), [("200 OK", None), ("not a status", 3), (204, 0)])
def test_access_log_numbers_stay_numbers(
    clean_env: pytest.MonkeyPatch, status: object, sent: int | None
) -> None:
    """A body never sent or a status gunicorn gives as text still makes a JSON line."""
    namespace = gunicorn_settings()
    logger = namespace["JsonAccessLogger"](as_gunicorn_config(namespace))
    atoms = logger.atoms(
        SimpleNamespace(status=status, sent=sent, headers=[]),
        SimpleNamespace(headers=[]),
        {"REQUEST_METHOD": "GET", "RAW_URI": "/", "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": "/"},
        timedelta(0),
    )
    entry = json.loads(namespace["access_log_format"] % logger.atoms_wrapper_class(atoms))
    assert all(type(entry[k]) is int for k in ("status", "bytes", "duration_us", "pid"))
    assert entry["bytes"] == (sent or 0)


def test_on_starting_empties_prometheus_dir(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    """Metrics files (and directories) left by an earlier run are removed at start-up."""
    metrics = tmp_path / "prom"
    (metrics / "sub").mkdir(parents=True)
    (metrics / "counter_123.db").write_bytes(b"old")
    (metrics / "sub" / "x").write_bytes(b"old")
    clean_env.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics))
    gunicorn_settings()["on_starting"](None)
    assert metrics.is_dir()
    assert list(metrics.iterdir()) == []


def test_on_starting_without_env_touches_nothing(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    """Without PROMETHEUS_MULTIPROC_DIR the hook deletes nothing (e.g. not the cwd)."""
    keep = tmp_path / "keep.db"
    keep.write_bytes(b"x")
    clean_env.chdir(tmp_path)
    gunicorn_settings()["on_starting"](None)
    assert keep.exists()


def test_child_exit_marks_worker_dead(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    """child_exit calls prometheus_client's mark_process_dead with the worker's pid."""
    from prometheus_client import multiprocess

    calls: list[int] = []
    clean_env.setattr(multiprocess, "mark_process_dead", lambda pid, path: calls.append(pid))
    clean_env.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    gunicorn_settings()["child_exit"](SimpleNamespace(WORKERS={}), SimpleNamespace(pid=4242))
    assert calls == [4242]


def test_child_exit_never_raises(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    """The hook runs in the arbiter, where an exception would stop the service: a vanished
    metrics directory is logged, not raised."""
    clean_env.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "gone"))
    logged: list[str] = []
    log = SimpleNamespace(exception=logged.append, warning=logged.append)
    child_exit = gunicorn_settings()["child_exit"]
    child_exit(SimpleNamespace(WORKERS={}, log=log), SimpleNamespace(pid=4242))
    assert logged == ["metrics archive failed: dead workers' files kept"]


def test_child_exit_is_inert_without_env(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    """Without PROMETHEUS_MULTIPROC_DIR child_exit touches no file (e.g. not the cwd's)."""
    keep = tmp_path / "counter_4242.db"
    keep.write_bytes(b"x")
    clean_env.chdir(tmp_path)
    gunicorn_settings()["child_exit"](SimpleNamespace(WORKERS={}), SimpleNamespace(pid=4242))
    assert keep.exists()


# --- With the application ---------------------------------------------------------------------


def _gunicorn_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CONF_ENV and k != "AUTOCONF_CONFIG"}
    env.update(extra)
    return env


def test_check_config_loads_app(tmp_path: Path) -> None:
    """`gunicorn --check-config -c python:autoconf.gunicorn_conf autoconf.wsgi:app` succeeds
    from any directory: settings and application both come from the installed package."""
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", *SHIPPED],
        cwd=tmp_path,
        env=_gunicorn_env(PYTHONPATH=str(Path(__file__).resolve().parents[2])),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_broken_configuration_stops_before_any_worker(tmp_path: Path) -> None:
    """A configuration error ends the master with status 1, naming the key, before it binds
    a socket or forks a worker (on_starting)."""
    broken = tmp_path / "autoconf.toml"
    broken.write_text("[dns]\ntimeout = 1.0\n")  # no [domains] table
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", *SHIPPED],
        cwd=tmp_path,
        env=_gunicorn_env(
            PYTHONPATH=str(Path(__file__).resolve().parents[2]),
            AUTOCONF_CONFIG=str(broken),
            AUTOCONF_BIND="127.0.0.1:1",  # never bound: the check comes first
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Error: configuration error: domains:" in result.stderr
    assert "Booting worker" not in result.stderr
    assert "Listening at" not in result.stderr


@pytest.mark.gunicorn
def test_real_gunicorn_serves_and_logs_path_only(
    repo_root: Path, tmp_path: Path, ports: Callable[[], int]
) -> None:
    """A real gunicorn with the shipped settings serves the bundled example, logs JSON lines
    without the query string or Authorization, and empties a stale PROMETHEUS_MULTIPROC_DIR
    at start."""
    port = ports()
    metrics = tmp_path / "prom"
    metrics.mkdir()
    (metrics / "stale_999.db").write_bytes(b"stale")
    log_path = tmp_path / "gunicorn.log"
    env = _gunicorn_env(
        AUTOCONF_BIND=f"127.0.0.1:{port}",
        AUTOCONF_WORKERS="1",
        AUTOCONF_THREADS="2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics),
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *SHIPPED],
            cwd=repo_root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            status = None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and status is None:
                assert proc.poll() is None, log_path.read_text()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                try:
                    conn.request(
                        "GET",
                        "/mail/config-v1.1.xml?emailaddress=qmarker%40example.com",
                        headers={
                            "Authorization": "Basic c2VjcmV0OnNlY3JldA==",
                            "Host": "autoconfig.example.com",
                        },
                    )
                    resp = conn.getresponse()
                    resp.read()
                    status = resp.status
                except OSError:
                    time.sleep(0.2)
                finally:
                    conn.close()
            assert status == 200
            assert not (metrics / "stale_999.db").exists()
        finally:
            stop(proc, timeout=30)
    text = log_path.read_text()
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    # The app's own JSON log lines (autoconf.logs) share the stream; access lines have a path.
    access = [entry for entry in entries if "path" in entry]
    assert any(entry["path"] == "/mail/config-v1.1.xml" for entry in access), text
    assert "qmarker" not in text
    assert "emailaddress" not in text
    assert "c2VjcmV0" not in text
    assert "Using worker: autoconf.gunicorn_worker.ClientTimeoutWorker" in text

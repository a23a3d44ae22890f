"""Start the real service under a real gunicorn for end-to-end tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.knot import free_port
from tests.processes import stop

ROOT = Path(__file__).resolve().parents[1]


def to_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """Enough TOML for autoconf's configuration shape (tables, scalars, string lists)."""
    scalars, tables = [], []
    for key, value in data.items():
        name = json.dumps(key) if "." in key else key
        if isinstance(value, Mapping):
            tables.append((f"{prefix}{name}", value))
        else:
            scalars.append(f"{name} = {json.dumps(value)}")
    text = "\n".join(scalars) + "\n"
    for name, table in tables:
        text += f"\n[{name}]\n" + to_toml(table, prefix=f"{name}.")
    return text


class Server:
    """A running gunicorn; ``url`` is its base URL, ``log`` its combined output so far."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
        self.process = process
        self.url = url
        self.log_path = log_path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(
        self, path: str, headers: Mapping[str, str] | None = None, data: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One request; returns (status, headers, body) for any status."""
        request = urllib.request.Request(self.url + path, data=data, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()


@contextmanager
def gunicorn(
    config: Mapping[str, Any],
    workdir: Path,
    *,
    workers: int = 1,
    extra_args: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """Run ``gunicorn wsgi:app`` (gthread) with ``config`` written as TOML in ``workdir``."""
    port = free_port()
    options = [
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--access-logfile",
        "-",
        "--access-logformat",
        '"%(m)s %(U)s" %(s)s',
    ]
    with _running(config, workdir, port, [*options, *extra_args], dict(env or {})) as server:
        yield server


@contextmanager
def deployed_gunicorn(
    config: Mapping[str, Any], workdir: Path, *, env: Mapping[str, str] | None = None
) -> Iterator[Server]:
    """Run gunicorn exactly as shipped: ``-c deploy/gunicorn.conf.py wsgi:app``, knobs
    through its environment variables only (no command-line overrides of its logging)."""
    port = free_port()
    knobs = {
        "AUTOCONF_BIND": f"127.0.0.1:{port}",
        "AUTOCONF_WORKERS": "1",
        "AUTOCONF_THREADS": "4",
        **(env or {}),
    }
    with _running(config, workdir, port, ["-c", "deploy/gunicorn.conf.py"], knobs) as server:
        yield server


@contextmanager
def _running(
    config: Mapping[str, Any],
    workdir: Path,
    port: int,
    options: list[str],
    env: dict[str, str],
) -> Iterator[Server]:
    """Start ``gunicorn OPTIONS wsgi:app`` from the checkout, wait for it, stop it after."""
    config_file = workdir / "autoconf.toml"
    config_file.write_text(to_toml(config))
    log_path = workdir / "gunicorn.log"
    full_env = {**os.environ, **env, "AUTOCONF_CONFIG": str(config_file)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *options, "wsgi:app"],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:
        _wait(server)
        yield server
    finally:
        # The shipped config drains for up to graceful_timeout (15 s).
        stop(process, timeout=20)


def _wait(server: Server) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{server.log}")
        try:
            server.get("/mail/config-v1.1.xml")
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not start:\n{server.log}")

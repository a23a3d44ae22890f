"""Start the real service under a real gunicorn for end-to-end tests."""

from __future__ import annotations

import json
import os
import runpy
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

from autoconf.server import command
from tests.knot import free_port
from tests.processes import stop


def gunicorn_settings() -> dict[str, Any]:
    """A fresh evaluation of the shipped gunicorn settings (``autoconf.gunicorn_conf``)
    under the current environment, as ``gunicorn -c python:autoconf.gunicorn_conf`` reads
    them. A copy another test imported goes first: runpy warns when it runs a module already
    in sys.modules, an error under this suite's filterwarnings."""
    sys.modules.pop("autoconf.gunicorn_conf", None)
    return runpy.run_module("autoconf.gunicorn_conf")


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
    argv = [sys.executable, "-m", "gunicorn", *options, *extra_args, "wsgi:app"]
    with _running(config, workdir, port, argv, dict(env or {})) as server:
        yield server


#: The shipped command's environment knobs, unset for the tests' servers unless given.
KNOBS = ("AUTOCONF_BIND", "AUTOCONF_WORKERS", "AUTOCONF_THREADS", "AUTOCONF_CLIENT_TIMEOUT")


@contextmanager
def deployed_gunicorn(
    config: Mapping[str, Any],
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> Iterator[Server]:
    """Run gunicorn exactly as shipped (``gunicorn -c python:autoconf.gunicorn_conf
    autoconf.wsgi:app``), knobs through its environment variables; ``extra_args`` are
    gunicorn options placed before the application (tests only, e.g. ``--max-requests``)."""
    port = free_port()
    knobs = {
        "AUTOCONF_BIND": f"127.0.0.1:{port}",
        "AUTOCONF_WORKERS": "1",
        "AUTOCONF_THREADS": "4",
        **(env or {}),
    }
    *shipped, app = command()
    with _running(config, workdir, port, [*shipped, *extra_args, app], knobs) as server:
        yield server


@contextmanager
def served(
    config: Mapping[str, Any],
    workdir: Path,
    *,
    args: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """Run ``mail-autoconf serve --bind 127.0.0.1:<port> ARGS`` (none of the knobs set in
    its environment, so only its flags and the shipped defaults apply)."""
    port = free_port()
    argv = [sys.executable, "-m", "autoconf", "serve", "--bind", f"127.0.0.1:{port}", *args]
    with _running(config, workdir, port, argv, dict(env or {})) as server:
        yield server


@contextmanager
def _running(
    config: Mapping[str, Any],
    workdir: Path,
    port: int,
    argv: list[str],
    env: dict[str, str],
) -> Iterator[Server]:
    """Start ``argv`` from the checkout with ``config``, wait for it, stop it after."""
    config_file = workdir / "autoconf.toml"
    config_file.write_text(to_toml(config))
    log_path = workdir / "gunicorn.log"
    inherited = {k: v for k, v in os.environ.items() if k not in KNOBS}
    full_env = {**inherited, **env, "AUTOCONF_CONFIG": str(config_file)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
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

"""A real ``autoconf serve`` (gunicorn) on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.knot import free_port


class Gunicorn:
    """``python -m autoconf serve --config FILE`` as a subprocess; output goes to a log file
    so tests can check what the access log recorded."""

    def __init__(self, config: Path, workdir: Path) -> None:
        self.config = config
        self.port = free_port()
        self.host = "127.0.0.1"
        self.log_path = workdir / "gunicorn.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "autoconf", "serve", "--bind", f"{self.host}:{self.port}"]
        command += ["--workers", "1", "--threads", "4", "--config", str(self.config)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOCONF_")}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=Path(__file__).parents[1],
            )
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"gunicorn did not start listening: {self.log()}")

    def connection(self) -> http.client.HTTPConnection:
        """A new HTTP/1.1 connection to the server."""
        return http.client.HTTPConnection(self.host, self.port, timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log(self) -> str:
        """Everything gunicorn and the app wrote (access log included)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

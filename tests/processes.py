"""Starting and stopping the real servers the tests run (Knot, gunicorn, nginx, Caddy, ...)."""

from __future__ import annotations

import socket
import subprocess
import time


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Terminate, give it ``timeout`` seconds to drain, then kill; never leave it behind."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], name: str, timeout: float = 15.0
) -> None:
    """Until ``process`` accepts TCP on 127.0.0.1:``port``; fail early if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited early with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{name} did not listen on {port} within {timeout}s")

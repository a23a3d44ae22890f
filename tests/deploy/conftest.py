"""Shared fixtures for the deploy/ tests.

Binaries (nginx, systemd-analyze, caddy) are optional on a developer machine: a test that needs
one is skipped with the reason. In CI (CI=true) a binary whose Debian package is listed in
tests/apt-packages.txt must be there, so its absence fails instead of silently skipping.
"""

from __future__ import annotations

import importlib
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import binaries

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def require_binary(name: str) -> str:
    """Return the path of ``name``; skip if missing, or fail in CI when CI is meant to have it."""
    return binaries.require(name)


def require_module(name: str) -> object:
    """Import a test-only PyPI package; skip without it, but fail in CI, where it is installed."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(name)
    return pytest.importorskip(name, reason=f"PyPI package {name} not installed")


@pytest.fixture(scope="session")
def binary() -> Callable[[str], str]:
    """The require_binary helper, as a fixture."""
    return require_binary


def free_port() -> int:
    """A currently unused loopback TCP port (bind to 0, read it back, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def ports() -> Callable[[], int]:
    """The free_port helper, as a fixture."""
    return free_port


@pytest.fixture(scope="session")
def deploy_dir() -> Path:
    """The deploy/ directory under test."""
    return DEPLOY


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (build context, cwd for gunicorn)."""
    return REPO

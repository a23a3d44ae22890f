"""The Debian binaries the tests run, found the same way for root and for a normal user.

Debian installs daemons and admin tools (knotd, knotc, nginx, unbound, ip...) in /usr/sbin
or /sbin, which are on root's PATH but usually not on a normal user's. Every test that runs
a system binary resolves it here and runs it by its absolute path, so no test depends on
whose PATH it inherited.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

#: Searched after PATH: where Debian puts what a normal user's PATH lacks.
SYSTEM_DIRS = "/usr/sbin:/sbin:/usr/bin:/bin"

#: The Debian package that ships each binary the tests run (see tests/apt-packages.txt).
PACKAGES = {
    "knotd": "knot",
    "knotc": "knot",
    "kdig": "knot-dnsutils",
    "ip": "iproute2",
    "unbound": "unbound",
    "curl": "curl",
    "msmtp": "msmtp",
    "thunderbird": "thunderbird",
    "certutil": "libnss3-tools",
    "openssl": "openssl",
    "nginx": "nginx",
    "systemd-analyze": "systemd",
    "caddy": "caddy",
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
}

APT_PACKAGES = Path(__file__).parent / "apt-packages.txt"


def find(name: str) -> str | None:
    """The absolute path of executable ``name`` (PATH first, then the system dirs), or None."""
    return shutil.which(name) or shutil.which(name, path=SYSTEM_DIRS)


def listed_packages() -> set[str]:
    """The Debian packages ``./dev test`` installs (tests/apt-packages.txt)."""
    lines = (line.split("#", 1)[0].strip() for line in APT_PACKAGES.read_text().splitlines())
    return {line for line in lines if line}


def missing_reason(name: str) -> str:
    """Why a test that needs ``name`` cannot run here."""
    package = PACKAGES.get(name, "?")
    return f"{name} not installed (Debian package {package}); install it to run this test"


def require(name: str) -> str:
    """The path of ``name``; skip when it is missing, but fail under ``CI=true`` when CI
    installs its package (a test CI is meant to run must not silently skip there)."""
    found = find(name)
    if found:
        return found
    package = PACKAGES.get(name)
    if os.environ.get("CI") == "true" and package in listed_packages():
        pytest.fail(f"{name} is missing although CI installs {package} (tests/apt-packages.txt)")
    pytest.skip(missing_reason(name))

"""The wheel carries what an installed package needs outside a checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.servers import ROOT


def test_wheel_ships_templates_and_default(tmp_path: Path) -> None:
    """templates/, the embedded example (config + zone) and the gunicorn settings are
    inside the wheel."""
    pytest.importorskip("hatchling", reason="hatchling (test extra) builds the wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = tmp_path.glob("mail_autoconf-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {p.name for p in (ROOT / "templates").iterdir() if p.is_file()}
    assert {f"autoconf/templates/{name}" for name in templates} <= names
    assert {"autoconf/data/default.toml", "autoconf/data/example.com.zone"} <= names
    # The production gunicorn settings and WSGI entry: a deployment needs nothing else.
    assert {"autoconf/gunicorn_conf.py", "autoconf/gunicorn_worker.py", "autoconf/wsgi.py"} <= names
    assert not any(name.startswith("tests/") for name in names)


def test_command_and_distribution_names() -> None:
    """The command is ``mail-autoconf`` (``autoconf`` is GNU Autoconf's binary) and
    ``python -m autoconf`` calls itself by that name."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "mail-autoconf"
    assert project["scripts"] == {"mail-autoconf": "autoconf.cli:main"}
    shown = subprocess.run(
        [sys.executable, "-m", "autoconf", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert shown.startswith("Usage: mail-autoconf ")

"""The wheel carries what an installed package needs outside a checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.servers import ROOT


def build_wheel(directory: Path) -> Path:
    """The wheel of this checkout, built without network (hatchling from the test extra)."""
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
            str(directory),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = directory.glob("mail_autoconf-*.whl")
    return wheel


def test_wheel_ships_templates_and_default(tmp_path: Path) -> None:
    """templates/, the embedded example (config + zone) and the gunicorn settings are
    inside the wheel."""
    names = set(zipfile.ZipFile(build_wheel(tmp_path)).namelist())
    templates = {p.name for p in (ROOT / "templates").iterdir() if p.is_file()}
    assert {f"autoconf/templates/{name}" for name in templates} <= names
    assert {"autoconf/data/default.toml", "autoconf/data/example.com.zone"} <= names
    # The production gunicorn settings and WSGI entry: a deployment needs nothing else.
    assert {"autoconf/gunicorn_conf.py", "autoconf/gunicorn_worker.py", "autoconf/wsgi.py"} <= names
    assert not any(name.startswith("tests/") for name in names)


#: Run from the unpacked wheel: every template loads through the package's one lookup, and
#: the app built from the bundled example answers with a rendered document.
FROM_THE_WHEEL = """
import sys
from pathlib import Path
import autoconf
from autoconf import create_app
from autoconf.templating import TEMPLATES, make_environment
assert Path(autoconf.__file__).is_relative_to(sys.argv[1]), autoconf.__file__
assert TEMPLATES.is_dir() and not TEMPLATES.is_symlink()
env = make_environment()
names = sorted(p.name for p in TEMPLATES.iterdir())
for name in names:
    env.get_template(name)
client = create_app().test_client()
answer = client.get("/mail/config-v1.1.xml", headers={"Host": "autoconfig.example.com"})
assert answer.status_code == 200 and b"<clientConfig" in answer.data, answer.status_code
print(",".join(names))
"""


def test_templates_are_found_in_the_installed_wheel(tmp_path: Path) -> None:
    """The one template lookup works from the wheel alone, not only in the checkout (where
    ``autoconf/templates`` is a link to the top-level folder)."""
    unpacked = tmp_path / "site"
    zipfile.ZipFile(build_wheel(tmp_path)).extractall(unpacked)
    shown = subprocess.run(
        [sys.executable, "-c", FROM_THE_WHEEL, str(unpacked)],
        cwd=tmp_path,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("AUTOCONF_")},
            "PYTHONPATH": str(unpacked),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    templates = sorted(p.name for p in (ROOT / "templates").iterdir() if p.is_file())
    assert shown.stdout.strip() == ",".join(templates)


def test_checkout_reaches_the_top_level_templates() -> None:
    """In the checkout the package's lookup is a link to ``templates/``, the one folder."""
    link = ROOT / "autoconf" / "templates"
    assert link.is_symlink() and link.resolve() == (ROOT / "templates").resolve()


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


def test_one_version_source() -> None:
    """The version is written once, as ``autoconf.__version__``; the distribution's
    metadata (what ``mail-autoconf --version`` prints) is read from it."""
    import importlib.metadata
    import tomllib

    import autoconf

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"] == {"path": "autoconf/__init__.py"}
    assert importlib.metadata.version("mail-autoconf") == autoconf.__version__


def test_test_extra_installs_every_part() -> None:
    """The extras are split (unit tests apart from the browser, the parser oracle and the
    lab), and ``test``, what ./dev test installs, names them all."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert extras["test"] == ["mail-autoconf[unit,browser,oracle,lab]"]
    assert {"unit", "browser", "oracle", "lab"} <= extras.keys()
    assert "ensure_venv test" in (ROOT / "dev").read_text()


#: Files that name the container image's version. A Containerfile label can only come from
#: a build argument, and a compose or Kubernetes image reference is a literal, so none of
#: them can read the package's version: they are bumped with ``autoconf.__version__``.
IMAGE_VERSION_FILES = (
    "deploy/Containerfile",
    "deploy/compose.yaml",
    "deploy/kubernetes/deployment.yaml",
    "deploy/README.md",
)
_IMAGE_TAG = re.compile(r"\bautoconf:(\d[\w.+-]*)")
_LABEL_VERSION = re.compile(r"^ARG VERSION=(\S+)$", re.MULTILINE)


def test_image_tags_and_label_are_the_package_version() -> None:
    """Every ``autoconf:<tag>`` in the deploy files and the Containerfile's version label
    default say ``autoconf.__version__``: a release cannot ship an image labelled with the
    previous version."""
    import autoconf

    found: dict[str, list[str]] = {}
    for name in IMAGE_VERSION_FILES:
        text = (ROOT / name).read_text()
        found[name] = _IMAGE_TAG.findall(text) + _LABEL_VERSION.findall(text)
        assert found[name], f"{name} names no image version"
    assert {name: set(tags) for name, tags in found.items()} == {
        name: {autoconf.__version__} for name in IMAGE_VERSION_FILES
    }

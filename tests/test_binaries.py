"""The tests find Debian's binaries for a normal user too (tests/binaries.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import binaries

TESTS = Path(__file__).parent


def test_every_binary_comes_from_a_listed_package() -> None:
    """./dev test installs the package of every binary the tests run."""
    assert set(binaries.PACKAGES.values()) <= binaries.listed_packages()


@pytest.mark.parametrize("name", ("knotd", "knotc", "nginx"))
def test_sbin_binaries_are_found_without_sbin_on_path(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A normal user's PATH has no /usr/sbin, where Debian puts knotd, knotc and nginx."""
    if binaries.find(name) is None:
        pytest.skip(binaries.missing_reason(name))
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")
    found = binaries.find(name)
    assert found is not None and Path(found).is_absolute()
    assert Path(found).name == name


def test_missing_binary_skips_with_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside CI a missing binary is a skip that names the Debian package to install."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(binaries, "SYSTEM_DIRS", "/nonexistent")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.skip.Exception, match=r"knotc not installed \(Debian package knot\)"):
        binaries.require("knotc")


def test_missing_binary_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under CI=true, where ./dev test installs the package, a missing binary is a failure."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(binaries, "SYSTEM_DIRS", "/nonexistent")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match="CI installs caddy"):
        binaries.require("caddy")


def test_no_test_runs_a_debian_binary_by_bare_name() -> None:
    """Running knotc by bare name works for root only (PATH); tests go through binaries.

    tests/lab is exempt: it needs root and runs its tools inside a namespace it creates.
    """
    names = "|".join(map(re.escape, binaries.PACKAGES))
    bare = re.compile(rf"""\[\s*["']({names})["']\s*,""")
    offenders = [
        f"{path.relative_to(TESTS)}: {match.group(0)}"
        for path in TESTS.rglob("*.py")
        if "lab" not in path.relative_to(TESTS).parts
        for match in bare.finditer(path.read_text())
    ]
    assert offenders == []

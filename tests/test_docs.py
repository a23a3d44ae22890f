"""The documentation: the site builds in strict mode, the README fits on a screen, every
relative link resolves, and nothing points at documents outside the repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The top-level README: what, why, the two commands, dependencies, links.
README_LIMIT = 10_000
#: Markdown files outside docs/ that the site publishes (docs/hooks/repo_pages.py).
PUBLISHED = ("README.md", "SECURITY.md", "CHANGELOG.md", "deploy/README.md", "tests/lab/README.md")
#: Folders that are not the project's own text (tools' caches, build output, environments).
SKIP_DIRS = {
    ".git",
    ".venv",
    ".venv-automx2",
    "site",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "artifacts",
    "dist",
    "build",
    "node_modules",
}
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
#: Background notes and schema copies kept beside the checkout, never part of it: a file
#: that cites them sends a maintainer to a document they do not have. (Written in pieces
#: so that this file does not match itself.)
_OUTSIDE = re.compile(
    "shared/" + "(?:docs|schemas)" + r"|\b(?:clients|security|dns|peers|architecture|hosting)"
    r"\.md\b"
)
#: Lines allowed to point outside: CI hands the tests its copy of the published schemas.
ALLOWED_OUTSIDE = {".ci/run": 1}


def _mkdocs(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _files(suffixes: tuple[str, ...] | None = None) -> Iterator[Path]:
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in names:
            path = Path(folder) / name
            if suffixes is None or path.suffix in suffixes:
                yield path


def _links(text: str) -> Iterator[str]:
    """Link targets of Markdown text, outside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            yield from _LINK.findall(line)


def test_site_builds_in_strict_mode(tmp_path: Path) -> None:
    """`mkdocs build --strict`: any broken link, anchor or navigation entry is an error."""
    result = _mkdocs(ROOT / "mkdocs.yml", tmp_path / "site")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    assert (tmp_path / "site" / "index.html").is_file()
    # The pages made from files outside docs/ are in the site, their links rewritten.
    for page in ("deployment", "lab", "reporting", "changelog"):
        assert (tmp_path / "site" / f"{page}.html").is_file(), page
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert 'href="client-matrix.html"' in index and 'href="deployment.html"' in index
    # The configuration reference is generated from the code's definitions at build time.
    reference = (tmp_path / "site" / "configuration.html").read_text(encoding="utf-8")
    assert "autoconf:config-reference" not in reference
    assert "max_entries" in reference and "AUTOCONF_BIND" in reference
    # The build hooks are not published as files of the site.
    assert not (tmp_path / "site" / "hooks").exists()


@pytest.mark.parametrize(
    ("page", "broken"),
    [
        ("docs/design.md", "[x](operations.md#no-such-section)"),
        ("docs/design.md", "[x](no-such-page.md)"),
        ("deploy/README.md", "[x](../docs/no-such-page.md)"),
        ("README.md", "[x](docs/operations.md#no-such-section)"),
    ],
)
def test_a_broken_link_fails_the_build(tmp_path: Path, page: str, broken: str) -> None:
    """The strictness is real: the same tree with one broken link or anchor does not build."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "docs", tree / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tree / "mkdocs.yml")
    for name in PUBLISHED:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tree / name)
    assert _mkdocs(tree / "mkdocs.yml", tmp_path / "ok").returncode == 0
    with (tree / page).open("a", encoding="utf-8") as f:
        f.write(f"\n{broken}\n")
    result = _mkdocs(tree / "mkdocs.yml", tmp_path / "broken")
    assert result.returncode != 0
    assert "Aborted" in result.stdout + result.stderr


def test_readme_fits_on_a_screen() -> None:
    size = len((ROOT / "README.md").read_bytes())
    assert size < README_LIMIT, f"README.md is {size} bytes; move detail into docs/"


def test_relative_links_outside_docs_resolve() -> None:
    """README.md, SECURITY.md, bench/, deploy/, tests/lab/...: every relative link names a
    file or folder of the repository (docs/ itself is checked by the strict build)."""
    broken = []
    for path in _files((".md",)):
        if path.is_relative_to(ROOT / "docs"):
            continue
        for target in _links(path.read_text(encoding="utf-8")):
            if _EXTERNAL.match(target) or target.startswith("#"):
                continue
            resolved = (path.parent / target.partition("#")[0]).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_nothing_points_outside_the_repository() -> None:
    """No code, test or document cites notes or schemas kept outside the repository.

    CHANGELOG.md records history and may name them; .ci/run may point the tests at the CI
    machine's copy of the published schemas, in one line.
    """
    found: dict[str, int] = {}
    for path in _files():
        rel = path.relative_to(ROOT).as_posix()
        if rel == "CHANGELOG.md" or path.stat().st_size > 1_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if lines := sum(1 for line in text.splitlines() if _OUTSIDE.search(line)):
            found[rel] = lines
    assert found == ALLOWED_OUTSIDE

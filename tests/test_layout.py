"""The package layout shows the architecture: who may import whom."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "autoconf"


def imported_modules(path: Path) -> set[str]:
    """Every ``autoconf...`` module a file imports, at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("autoconf")}


def test_web_layer_never_imports_the_factory() -> None:
    """``app`` builds the web layer; the web layer importing ``app`` back would be a cycle
    (app -> web -> app) that only lazy imports hide."""
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(
            name for name in imported_modules(path) if name.startswith("autoconf.app")
        )
        for path in (PACKAGE / "web").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_untrusted_xml_is_parsed_in_one_module() -> None:
    """Only ``autoconf.safexml`` builds an lxml parser or parses bytes with lxml."""
    users = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "etree.fromstring" in path.read_text() or "etree.XMLParser" in path.read_text()
    )
    assert users == ["safexml.py"]


def test_each_client_format_answers_its_own_errors() -> None:
    """Every client format's blueprint registers its error answer with Flask; nothing
    picks a renderer from a table filled at app creation."""
    from autoconf import create_app
    from autoconf.errors import RequestError
    from autoconf.formats import ClientFormat
    from tests.conftest import ZONE_FILE
    from tests.conftest import config

    app = create_app(config(zone_files=[str(ZONE_FILE)]))
    for fmt in ClientFormat:
        assert RequestError in app.error_handler_spec[fmt.value][None], fmt
    assert RequestError in app.error_handler_spec[None][None]

"""The pure core imports neither Flask nor dnspython (sans-I/O, like h11)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = [
    "autoconf",
    "autoconf.address",
    "autoconf.names",
    "autoconf.model",
    "autoconf.discovery",
    "autoconf.logins",
    "autoconf.hosting",
    "autoconf.diagnostics",
    "autoconf.diagnostics.checks",
    "autoconf.diagnostics.documents",
    "autoconf.diagnostics.livecheck",
    "autoconf.diagnostics.clientread",
    "autoconf.diagnostics.report",
    "autoconf.diagnostics.probe",
    "autoconf.errors",
    "autoconf.safexml",
    "autoconf.cache",
    "autoconf.config_keys",
    "autoconf.config_kinds",
    "autoconf.formats",
    "autoconf.formats.thunderbird",
    "autoconf.formats.autodiscover",
    "autoconf.formats.autodiscover_json",
    "autoconf.formats.mobileconfig",
    "autoconf.signing",
]


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_io_framework(module: str) -> None:
    """Importing the module in a fresh interpreter loads neither flask nor dns."""
    code = (
        f"import sys, {module}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'dns', "
        "'werkzeug', 'gunicorn')); print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_only_the_adapter_imports_dnspython() -> None:
    """dnspython appears in exactly one module of the package."""
    from pathlib import Path

    root = Path(__file__).parents[1] / "autoconf"
    users = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if "import dns." in p.read_text() or "\nimport dns\n" in p.read_text()
    )
    assert users == ["dns_source.py"]

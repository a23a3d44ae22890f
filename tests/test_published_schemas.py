"""The published schemas come from $AUTOCONF_SCHEMAS; without them a test skips and says
which file to put there and where it is published."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SCHEMAS_ENV
from tests.conftest import published_schema


def _skip_reason(name: str) -> str:
    with pytest.raises(pytest.skip.Exception) as skipped:
        published_schema(name)
    return str(skipped.value)


def test_unset_variable_skips_naming_the_file_and_its_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SCHEMAS_ENV, raising=False)
    reason = _skip_reason("AutodiscoverResponse.xsd")
    assert "$AUTOCONF_SCHEMAS is not set" in reason
    assert "AutodiscoverResponse.xsd" in reason and "OfficeDev/Interop-TestSuites" in reason


def test_incomplete_folder_skips_naming_the_missing_import(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "AutodiscoverResponse.xsd").write_text("<schema/>")
    monkeypatch.setenv(SCHEMAS_ENV, str(tmp_path))
    reason = _skip_reason("AutodiscoverResponse.xsd")
    assert "lacks AutodiscoverMobileSync.xsd" in reason
    assert "lacks" in _skip_reason("draft-ietf-mailmaint-autoconfig.autoconfig.rng")
    assert "benbucksch/autoconfig-spec" in _skip_reason(
        "draft-ietf-mailmaint-autoconfig.autoconfig.rng"
    )


def test_complete_folder_gives_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AutodiscoverResponse.xsd", "AutodiscoverMobileSync.xsd"):
        (tmp_path / name).write_text("<schema/>")
    monkeypatch.setenv(SCHEMAS_ENV, str(tmp_path))
    assert published_schema("AutodiscoverResponse.xsd") == tmp_path / "AutodiscoverResponse.xsd"

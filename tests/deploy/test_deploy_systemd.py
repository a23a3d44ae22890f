"""deploy/autoconf.service: directives present, and systemd's own checks where they can run."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

VENV_GUNICORN = "/opt/autoconf/venv/bin/gunicorn"

REQUIRED = {
    "DynamicUser": "yes",
    "StateDirectory": "autoconf",
    "RuntimeDirectory": "autoconf",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "SystemCallArchitectures": "native",
    "Restart": "on-failure",
}


def service_section(deploy_dir: Path) -> dict[str, list[str]]:
    """[Service] directives -> every value given (systemd allows repeats)."""
    parser = configparser.ConfigParser(
        strict=False, interpolation=None, empty_lines_in_values=False, dict_type=_MultiDict
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(deploy_dir / "autoconf.service")
    return {key: value.split("\n") for key, value in parser["Service"].items()}


class _MultiDict(dict[str, object]):
    """Collect repeated keys as newline-joined values instead of the last one winning."""

    def __setitem__(self, key: str, value: object) -> None:
        if isinstance(value, list) and key in self and isinstance(self[key], list):
            self[key].extend(value)  # type: ignore[union-attr]
        else:
            super().__setitem__(key, value)


def test_hardening_directives_present(deploy_dir: Path) -> None:
    """Every required sandboxing directive is set to the required value."""
    service = service_section(deploy_dir)
    for key, want in REQUIRED.items():
        assert key in service, f"{key}= missing"
        assert want in [value.strip() for value in service[key]], f"{key}={service[key]}"
    assert "@system-service" in service["SystemCallFilter"]
    assert "AUTOCONF_CONFIG=/etc/autoconf/autoconf.toml" in service["Environment"]
    assert any(
        v.startswith("PROMETHEUS_MULTIPROC_DIR=%t/autoconf/") for v in service["Environment"]
    )


def test_runs_gunicorn_never_the_dev_server(deploy_dir: Path) -> None:
    """ExecStart is the shipped command (gunicorn with the packaged settings and application,
    as `mail-autoconf serve` runs it), not `flask run` or werkzeug."""
    from autoconf.server import command

    (exec_start,) = service_section(deploy_dir)["ExecStart"]
    assert exec_start.split() == [VENV_GUNICORN, *command()[3:]]
    text = (deploy_dir / "autoconf.service").read_text().lower()
    assert "flask run" not in text
    assert "werkzeug" not in text


def _unit_with_real_binary(deploy_dir: Path, tmp_path: Path) -> Path:
    """A copy whose ExecStart names an executable that exists here (verify checks that)."""
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    if not Path(gunicorn).exists():
        pytest.skip("no gunicorn executable to substitute into ExecStart")
    text = (deploy_dir / "autoconf.service").read_text()
    assert VENV_GUNICORN in text
    unit = tmp_path / "autoconf.service"
    unit.write_text(text.replace(VENV_GUNICORN, gunicorn))
    return unit


@pytest.fixture(scope="module")
def analyze(
    binary: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """systemd-analyze, once a trivial known-good unit shows that it works in this container."""
    tool = binary("systemd-analyze")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)

    probe = tmp_path_factory.mktemp("probe") / "probe.service"
    probe.write_text("[Service]\nType=oneshot\nExecStart=/bin/true\n")
    result = run("verify", str(probe))
    if result.returncode != 0:
        pytest.skip(f"systemd-analyze verify fails even on a trivial unit here: {result.stderr}")
    return run


def test_systemd_analyze_verify(
    deploy_dir: Path, tmp_path: Path, analyze: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """`systemd-analyze verify` accepts the unit with no warning (unknown keys are warnings)."""
    unit = _unit_with_real_binary(deploy_dir, tmp_path)
    result = analyze("verify", str(unit))
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    own = [line for line in output.splitlines() if unit.name in line]
    assert own == [], output


def test_systemd_analyze_verify_catches_typos(
    deploy_dir: Path, tmp_path: Path, analyze: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """Control for the test above: a misspelt directive is reported, so silence means clean."""
    unit = _unit_with_real_binary(deploy_dir, tmp_path)
    unit.write_text(unit.read_text().replace("ProtectHome=yes", "ProtectHomme=yes"))
    result = analyze("verify", str(unit))
    assert "ProtectHomme" in result.stdout + result.stderr


def test_systemd_analyze_security_exposure_is_low(
    deploy_dir: Path, tmp_path: Path, analyze: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """`systemd-analyze security --offline` rates the unit's exposure at 2.0 or better (0-10)."""
    unit = _unit_with_real_binary(deploy_dir, tmp_path)
    result = analyze("security", "--offline=true", "--threshold=20", str(unit))
    if "unrecognized option" in result.stderr or "Unknown option" in result.stderr:
        pytest.skip(f"this systemd-analyze has no offline security check: {result.stderr}")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert "Overall exposure level" in result.stdout

"""./dev's package installation, run for real in bash with apt-get and friends replaced.

./dev is sourced (which defines its functions without running it); apt-get, systemctl,
update-rc.d, dpkg-query and the root check are replaced by shell functions that write down
what they were asked, and policy-rc.d and the systemd directory live in a temporary
directory. Nothing is installed and the host's policy-rc.d is never touched.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.binaries import APT_PACKAGES

DEV = Path(__file__).resolve().parents[1] / "dev"

ORIGINAL_POLICY = "#!/bin/sh\n# the host's own\nexit 0\n"

# The replacements. apt-get install checks what policy-rc.d says while it runs and
# enables a service, as a package's postinst does (deb-systemd-helper enable).
STUBS = r"""
is_root() { [ "$AS_ROOT" = 1 ]; }
installed() { [[ " $INSTALLED " == *" $1 "* ]]; }
sleep() { :; }
apt-get() {
    echo "apt-get $*" >>"$CALLS"
    case " $* " in
        *" update "*)
            if [ -n "$LOCKED_UPDATES" ] && [ "$LOCKED_UPDATES" -gt 0 ]; then
                LOCKED_UPDATES=$((LOCKED_UPDATES - 1))
                echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 1" >&2
                return 100
            fi
            ;;
        *" install "*)
            echo "Setting up fake ..."
            "$policy_rc_d" fake.service start
            echo "policy-rc.d during install: $?" >>"$CALLS"
            mkdir -p "$systemd_dir/multi-user.target.wants"
            ln -s /lib/systemd/system/fake.service "$systemd_dir/multi-user.target.wants/"
            ln -s /etc/init.d/fake "$RC2/S01fake"
            if [ "$INSTALL_DOES" = fail ]; then return 100; fi
            if [[ "$INSTALL_DOES" == SIG* ]]; then kill -s "${INSTALL_DOES#SIG}" $$; fi
            ;;
    esac
}
systemctl() { echo "systemctl $*" >>"$CALLS"; }
update-rc.d() { echo "update-rc.d $*" >>"$CALLS"; }
"""


@dataclass
class Run:
    status: int
    stderr: str
    calls: list[str]
    policy: Path


@pytest.fixture(name="sandbox")
def fixture_sandbox(tmp_path: Path) -> Path:
    if shutil.which("bash") is None or shutil.which("flock") is None:
        pytest.skip("bash and flock (util-linux) are needed to run ./dev")
    for name in ("sbin", "systemd", "rc2.d"):
        (tmp_path / name).mkdir()
    # A service enabled before the install: never ./dev's business.
    (tmp_path / "systemd" / "sockets.target.wants").mkdir()
    (tmp_path / "systemd" / "sockets.target.wants" / "old.socket").symlink_to("/dev/null")
    return tmp_path


def dev_command(
    sandbox: Path,
    packages: str,
    *,
    root: bool = True,
    installed: str = "",
    policy: str | None = ORIGINAL_POLICY,
    install_does: str = "succeed",
    locked_updates: int = 0,
) -> tuple[list[str], dict[str, str]]:
    """bash sourcing ./dev, replacing its outside world, installing ``packages``."""
    listing = sandbox / "packages.txt"
    listing.write_text(packages)
    policy_path = sandbox / "sbin" / "policy-rc.d"
    if policy is not None:
        policy_path.write_text(policy)
        policy_path.chmod(0o755)
    calls = sandbox / "calls"
    calls.write_text("")
    script = (
        f'source "{DEV}"\n{STUBS}\n'
        f'policy_rc_d="{policy_path}"\nsystemd_dir="{sandbox / "systemd"}"\n'
        f'rc_dirs=("{sandbox / "rc2.d"}")\n'
        f'apt_install < <(read_packages "{listing}")\n'
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "AS_ROOT": "1" if root else "0",
        "INSTALLED": installed,
        "CALLS": str(calls),
        "RC2": str(sandbox / "rc2.d"),
        "INSTALL_DOES": install_does,
        "LOCKED_UPDATES": str(locked_updates),
    }
    return ["bash", "-c", script], env


def run_dev(sandbox: Path, packages: str, **options: Any) -> Run:
    """Run :func:`dev_command` to the end."""
    command, env = dev_command(sandbox, packages, **options)
    done = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        # As at a terminal: a shell cannot trap a signal it inherits ignored, and a
        # background job (`pytest &` from a script) inherits SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    calls = (sandbox / "calls").read_text().splitlines()
    return Run(done.returncode, done.stderr, calls, sandbox / "sbin" / "policy-rc.d")


LIST = """\
# a header comment
knot              # the DNS server the tests query
nginx  # deploy/ tests
"""


def test_root_install_says_what_and_why_then_keeps_services_down(sandbox: Path) -> None:
    """The missing packages are named with their reason before apt-get runs; during the
    install policy-rc.d forbids starting services (101), after it the host's own is back,
    and the service the install enabled is disabled again."""
    run = run_dev(sandbox, LIST, installed="nginx")
    assert run.status == 0, run.stderr
    assert "1 Debian package(s)" in run.stderr
    assert "knot             the DNS server the tests query" in run.stderr
    assert "nginx" not in run.stderr.split("apt-get waits")[0]  # installed already
    install = [c for c in run.calls if " install " in f" {c} "]
    assert install == ["apt-get -q -y -o DPkg::Lock::Timeout=600 install knot"]
    assert run.calls.index("apt-get -q update") < run.calls.index(install[0])
    assert "policy-rc.d during install: 101" in run.calls
    assert run.policy.read_text() == ORIGINAL_POLICY
    assert sorted(p.name for p in run.policy.parent.iterdir()) == ["policy-rc.d"]
    # systemctl disable also handles the unit's sysv script (systemd-sysv-install).
    assert [c for c in run.calls if c.startswith(("systemctl", "update-rc.d"))] == [
        "systemctl disable --quiet fake.service"
    ]


def test_without_systemd_the_boot_script_is_disabled(sandbox: Path) -> None:
    """Where no unit was enabled, the sysv-rc start link is turned off with update-rc.d."""
    run_dev(sandbox, LIST, installed="nginx")  # leaves fake.service and S01fake behind
    (sandbox / "systemd" / "multi-user.target.wants" / "fake.service").unlink()
    (sandbox / "rc2.d" / "S01fake").unlink()
    script = (
        f'source "{DEV}"\n{STUBS}\nsystemd_dir="{sandbox / "systemd"}"\n'
        f'rc_dirs=("{sandbox / "rc2.d"}")\nbefore="$(enabled_services)"\n'
        f'ln -s /etc/init.d/other "{sandbox / "rc2.d" / "S02other"}"\n'
        'disable_new_services "$before"\n'
    )
    calls = sandbox / "calls"
    calls.write_text("")
    env = {"PATH": "/usr/bin:/bin", "CALLS": str(calls)}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert calls.read_text().splitlines() == ["update-rc.d other disable"]


@pytest.mark.parametrize("before", [ORIGINAL_POLICY, None], ids=["host-policy", "no-policy"])
def test_failed_install_puts_policy_back(sandbox: Path, before: str | None) -> None:
    """apt-get failing leaves policy-rc.d as it was (absent stays absent), and fails."""
    run = run_dev(sandbox, LIST, policy=before, install_does="fail")
    assert run.status != 0
    assert "policy-rc.d during install: 101" in run.calls
    if before is None:
        assert not run.policy.exists()
    else:
        assert run.policy.read_text() == before
    assert sorted(p.name for p in run.policy.parent.iterdir()) == (
        ["policy-rc.d"] * (before is not None)
    )


@pytest.mark.parametrize("before", [ORIGINAL_POLICY, None], ids=["host-policy", "no-policy"])
@pytest.mark.parametrize(("signal_name", "status"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_interrupted_install_puts_policy_back(
    sandbox: Path, before: str | None, signal_name: str, status: int
) -> None:
    """Ctrl-C (or a TERM) during apt-get: ./dev exits 128 + the signal number with the
    host's policy-rc.d restored."""
    run = run_dev(sandbox, LIST, policy=before, install_does=signal_name)
    assert run.status == status, run.stderr
    if before is None:
        assert not run.policy.exists()
    else:
        assert run.policy.read_text() == before


def test_killed_run_is_repaired_by_the_next(sandbox: Path) -> None:
    """After a run killed with SIGKILL (its policy-rc.d in place, the host's set aside),
    the next run puts the host's back before anything else."""
    policy = sandbox / "sbin" / "policy-rc.d"
    (sandbox / "sbin" / "policy-rc.d.mail-autoconf-saved").write_text(ORIGINAL_POLICY)
    marker = "# written by mail-autoconf's ./dev while it installs test packages"
    run = run_dev(sandbox, LIST, policy=f"#!/bin/sh\n{marker}; removed after.\nexit 101\n")
    assert run.status == 0, run.stderr
    assert policy.read_text() == ORIGINAL_POLICY
    assert sorted(p.name for p in policy.parent.iterdir()) == ["policy-rc.d"]


def test_concurrent_runs_take_turns(sandbox: Path) -> None:
    """While another ./dev holds the policy-rc.d lock, a second one waits, saying so,
    and touches neither apt-get nor policy-rc.d until it is released."""
    command, env = dev_command(sandbox, LIST)
    held = os.open(sandbox / "sbin", os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        assert process.stderr is not None
        for line in process.stderr:
            if "another ./dev is installing packages; waiting for it" in line:
                break
        assert (sandbox / "calls").read_text() == ""
        assert (sandbox / "sbin" / "policy-rc.d").read_text() == ORIGINAL_POLICY
    finally:
        os.close(held)
    rest = process.communicate(timeout=60)[1]
    assert process.returncode == 0, rest
    assert "apt-get -q update" in (sandbox / "calls").read_text()


def test_waits_for_the_package_lists_lock(sandbox: Path) -> None:
    """apt-get update does not wait for a held lists lock: ./dev retries, saying so."""
    run = run_dev(sandbox, LIST, locked_updates=2)
    assert run.status == 0, run.stderr
    assert "another apt-get holds the package lists; waiting for it" in run.stderr
    assert run.calls.count("apt-get -q update") == 3


def test_normal_user_gets_the_list_and_nothing_is_installed(sandbox: Path) -> None:
    """Without root: which packages are missing, why, and the command; no apt-get."""
    run = run_dev(sandbox, LIST, root=False)
    assert run.status == 0, run.stderr
    assert "nginx            deploy/ tests" in run.stderr
    assert "sudo apt-get install knot nginx" in run.stderr
    assert run.calls == []
    assert run.policy.read_text() == ORIGINAL_POLICY


def test_nothing_missing_is_silent(sandbox: Path) -> None:
    run = run_dev(sandbox, LIST, installed="knot nginx")
    assert (run.status, run.stderr, run.calls) == (0, "", [])


def test_every_listed_package_says_why() -> None:
    """tests/apt-packages.txt gives a reason for each package; ./dev prints them."""
    for line in APT_PACKAGES.read_text().splitlines():
        name, _, why = line.partition("#")
        if name.strip():
            assert why.strip(), f"{name.strip()}: no reason given"

"""A private network namespace for the lab: only ``lo``, no route out (ip-netns(8)).

``ip netns exec`` bind-mounts every file in ``/etc/netns/<name>/`` over the same name in
``/etc``, so processes started through :meth:`Namespace.command` see the lab's
``resolv.conf`` and ``hosts`` while the host keeps its own.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path

from tests.processes import stop

NETNS_ETC = Path("/etc/netns")
#: What a lab process sees as /etc/hosts: localhost only, every other name comes from DNS.
HOSTS = "127.0.0.1 localhost\n::1 localhost\n"


class NamespaceUnavailableError(RuntimeError):
    """This machine (or container) does not let us create network namespaces."""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


class Namespace:
    """One ``aclab-<random>`` namespace and the processes started in it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.etc = NETNS_ETC / name
        self.processes: list[subprocess.Popen[bytes]] = []

    @classmethod
    def create(cls, resolver: str = "127.0.0.1") -> Namespace:
        """Add the namespace, bring ``lo`` up and write its resolv.conf and hosts."""
        namespace = cls(f"aclab-{secrets.token_hex(4)}")
        try:
            _ip("netns", "add", namespace.name)
        except subprocess.CalledProcessError as error:
            raise NamespaceUnavailableError(error.stderr.decode(errors="replace")) from None
        try:
            _ip("-n", namespace.name, "link", "set", "lo", "up")
            namespace.etc.mkdir(parents=True)
            # trust-ad: glibc passes the AD bit on only when told to (and only from here).
            (namespace.etc / "resolv.conf").write_text(f"nameserver {resolver}\noptions trust-ad\n")
            (namespace.etc / "hosts").write_text(HOSTS)
        except BaseException:
            namespace.close()
            raise
        return namespace

    def command(self, *argv: str) -> list[str]:
        """``argv`` wrapped to run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def run(
        self,
        *argv: str,
        timeout: float = 30,
        env: Mapping[str, str] | None = None,
        check: bool = False,
        cwd: Path | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the namespace to completion (``input`` on its stdin); output
        captured as text."""
        return subprocess.run(
            self.command(*argv),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=None if env is None else {**os.environ, **env},
            check=check,
            cwd=cwd,
        )

    def spawn(
        self, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a long-running ``argv`` inside the namespace, output to ``log``.

        ``ip netns exec`` execs the command, so the process id is the server's own.
        """
        with log.open("ab") as out:
            process = subprocess.Popen(
                self.command(*argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=None if env is None else {**os.environ, **env},
            )
        self.processes.append(process)
        return process

    def pids(self) -> list[int]:
        """Every process still inside the namespace (all of them started by the lab)."""
        listed = subprocess.run(
            ["ip", "netns", "pids", self.name], capture_output=True, text=True, timeout=10
        )
        return [int(pid) for pid in listed.stdout.split()]

    def close(self) -> None:
        """Stop what was started, then remove the namespace and its /etc/netns directory."""
        for process in reversed(self.processes):
            stop(process)
        for pid in self.pids():
            # Children the lab's processes left behind (a client's helper, a worker).
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, timeout=10)
        shutil.rmtree(self.etc, ignore_errors=True)

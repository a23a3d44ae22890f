"""How the service runs in production: one gunicorn command, a few environment knobs.

Every way of running the service is this command, with its settings in the package
(:mod:`autoconf.gunicorn_conf`) and the application in :mod:`autoconf.wsgi`::

    gunicorn -c python:autoconf.gunicorn_conf autoconf.wsgi:app

``mail-autoconf serve`` replaces itself with exactly that command (same process, so systemd's
notify socket and signals reach gunicorn), its flags passed as the environment variables the
settings read; a deployment sets the same variables. Nothing else differs. Those variables
are defined here (:data:`KNOBS`), each once, with its default and meaning.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

GUNICORN_CONFIG = "python:autoconf.gunicorn_conf"
WSGI_APP = "autoconf.wsgi:app"


@dataclass(frozen=True, slots=True)
class Knob:
    """One environment variable of the running service, defined once: read by the gunicorn
    settings and the worker, offered by ``mail-autoconf serve``, listed by the generated
    reference (``python -m autoconf.config_reference``)."""

    name: str
    #: As the reference shows it; "" means unset.
    default: str
    #: One paragraph of Markdown for the admin (names and values in code spans).
    doc: str
    #: Bounds of an integer knob.
    low: int | None = None
    high: int | None = None

    def text(self, environ: Mapping[str, str] | None = None) -> str:
        """The variable's value, else the default."""
        return (os.environ if environ is None else environ).get(self.name, self.default)

    def integer(self, default: int | None = None, environ: Mapping[str, str] | None = None) -> int:
        """An integer knob's value (``default``, else the knob's own, when unset), refused
        (ValueError) outside its bounds."""
        if self.low is None or self.high is None:
            raise TypeError(f"{self.name} is not an integer knob")
        fallback = int(self.default) if default is None else default
        return env_int(self.name, fallback, low=self.low, high=self.high, environ=environ)


BIND = Knob(
    "AUTOCONF_BIND",
    "127.0.0.1:8000",
    "Where gunicorn listens: `HOST:PORT` or `unix:PATH`, several comma-separated. Loopback "
    "by default: the service is meant to sit behind nginx or Caddy, which own TLS, the body "
    "limit, rate limiting and the `Authorization` strip. The container image binds "
    "`0.0.0.0:8080`; its network namespace is the boundary.",
)
WORKERS = Knob(
    "AUTOCONF_WORKERS",
    "2 per usable CPU, at least 2, at most 16",
    "Worker processes. Usable CPUs are counted with `sched_getaffinity`, which honours "
    "cpusets (`taskset`, `--cpuset-cpus`) but not a cgroup CPU quota: under a CPU limit "
    "(containers, Kubernetes) set it explicitly.",
    low=1,
    high=64,
)
THREADS = Knob(
    "AUTOCONF_THREADS",
    "4",
    "Threads per worker (gunicorn's gthread worker): a DNS wait, bounded by `dns.timeout`, "
    "blocks one thread while the worker's other threads keep serving.",
    low=1,
    high=32,
)
CLIENT_TIMEOUT = Knob(
    "AUTOCONF_CLIENT_TIMEOUT",
    "10",
    "Seconds a client may stay silent mid-request (in the header or the body) before its "
    "connection is closed and its thread freed, like nginx's `client_header_timeout` and "
    "`client_body_timeout`. It bounds silence, not a whole request.",
    low=1,
    high=60,
)
LOG_LEVEL = Knob(
    "AUTOCONF_LOG_LEVEL",
    "info",
    "gunicorn's own log level (`debug`, `info`, `warning`, `error`, `critical`); at `debug` "
    "it also prints every effective setting at start. The application's level is "
    "`[logging] level`.",
)
FORWARDED_ALLOW_IPS = Knob(
    "FORWARDED_ALLOW_IPS",
    "127.0.0.1,::1",
    "The peers (comma-separated addresses, or `*`) whose `X-Forwarded-Proto` gunicorn "
    "believes, and so whose requests may count as https. Loopback matches nginx or Caddy on "
    "the same host; a container behind another host's proxy sets that proxy's address. "
    "gunicorn applies no such check to UNIX sockets: make a socket writable by the proxy "
    "only.",
)
PROMETHEUS_MULTIPROC_DIR = Knob(
    "PROMETHEUS_MULTIPROC_DIR",
    "",
    "A directory for prometheus-client's files, so `/metrics` adds up every worker's counts. "
    "The master empties it at start, and each exiting worker's files are folded into one "
    "archive file per metric kind, so it holds 2 files per live worker plus 2. Unset: each "
    "worker counts alone and `/metrics` shows the one that answers.",
)
STATE_DIRECTORY = Knob(
    "STATE_DIRECTORY",
    "",
    "Where the settings snapshot lives (the first entry when several are `:`-separated). "
    "systemd sets it for `StateDirectory=`, the container image to `/var/lib/autoconf`. "
    "Unset: `[state] directory`. The master creates it (mode 0700) and logs where the "
    "snapshot is.",
)
#: Every variable, in the order of the reference.
KNOBS = (
    BIND,
    WORKERS,
    THREADS,
    CLIENT_TIMEOUT,
    LOG_LEVEL,
    FORWARDED_ALLOW_IPS,
    PROMETHEUS_MULTIPROC_DIR,
    STATE_DIRECTORY,
)


def usable_cpus() -> int:
    """CPUs this process may run on (cpusets count, a cgroup CPU quota does not)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """The default of :data:`WORKERS`: 2 per usable CPU, at least 2, at most 16."""
    return max(2, min(2 * usable_cpus(), 16))


def env_int(
    name: str, default: int, *, low: int, high: int, environ: Mapping[str, str] | None = None
) -> int:
    """An integer knob from the environment, refused (ValueError) outside ``low..high``."""
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return default
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(f"{name}={value} is outside {low}..{high}")
    return value


def command() -> list[str]:
    """The gunicorn command line, run by this interpreter."""
    return [sys.executable, "-m", "gunicorn", "-c", GUNICORN_CONFIG, WSGI_APP]


def run(*, bind: str | None, workers: int | None, threads: int | None) -> NoReturn:
    """Become gunicorn with the shipped settings; ``None`` leaves a knob to the environment."""
    env = dict(os.environ)
    for knob, value in ((BIND, bind), (WORKERS, workers), (THREADS, threads)):
        if value is not None:
            env[knob.name] = str(value)
    argv = command()
    os.execve(argv[0], argv, env)

"""How the service runs in production: one gunicorn command, a few environment knobs.

Every way of running the service is this command, with its settings in the package
(:mod:`autoconf.gunicorn_conf`) and the application in :mod:`autoconf.wsgi`::

    gunicorn -c python:autoconf.gunicorn_conf autoconf.wsgi:app

``mail-autoconf serve`` replaces itself with exactly that command (same process, so systemd's
notify socket and signals reach gunicorn), its flags passed as the environment variables the
settings read; a deployment sets the same variables. Nothing else differs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import NoReturn

BIND_ENV = "AUTOCONF_BIND"
WORKERS_ENV = "AUTOCONF_WORKERS"
THREADS_ENV = "AUTOCONF_THREADS"
CLIENT_TIMEOUT_ENV = "AUTOCONF_CLIENT_TIMEOUT"

GUNICORN_CONFIG = "python:autoconf.gunicorn_conf"
WSGI_APP = "autoconf.wsgi:app"


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
    for name, value in ((BIND_ENV, bind), (WORKERS_ENV, workers), (THREADS_ENV, threads)):
        if value is not None:
            env[name] = str(value)
    argv = command()
    os.execve(argv[0], argv, env)

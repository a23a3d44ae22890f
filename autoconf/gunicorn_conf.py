"""The production gunicorn settings: the only ones the service runs with.

``mail-autoconf serve`` and every shipped deployment (systemd unit, container image,
Kubernetes) run the same command::

    gunicorn -c python:autoconf.gunicorn_conf autoconf.wsgi:app

(``mail-autoconf serve`` is exactly that, with its ``--bind``/``--workers``/``--threads``
passed as the variables it reads). The knobs an operator needs are read from the
environment: AUTOCONF_BIND, AUTOCONF_WORKERS, AUTOCONF_THREADS, AUTOCONF_CLIENT_TIMEOUT,
AUTOCONF_LOG_LEVEL, FORWARDED_ALLOW_IPS, PROMETHEUS_MULTIPROC_DIR and STATE_DIRECTORY, each
defined once with its default and bounds in :data:`autoconf.server.KNOBS` (listed by
``python -m autoconf.config_reference``). Everything else is fixed here.

gunicorn >= 23 is required: older releases mishandle Transfer-Encoding (request smuggling,
CVE-2024-1135 and CVE-2024-6827). Debian 12 ships 20.1, so install gunicorn from PyPI into the
venv or image. The module refuses to load on an older gunicorn rather than run exposed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gunicorn
from gunicorn.glogging import Logger
from gunicorn.glogging import SafeAtoms
from prometheus_client import multiprocess

from autoconf.gunicorn_worker import STALLED_MESSAGE
from autoconf.gunicorn_worker import client_timeout
from autoconf.gunicorn_worker import is_stall
from autoconf.logs import utc_stamp
from autoconf.metrics import archive_dead_processes
from autoconf.server import BIND
from autoconf.server import FORWARDED_ALLOW_IPS
from autoconf.server import LOG_LEVEL
from autoconf.server import PROMETHEUS_MULTIPROC_DIR
from autoconf.server import THREADS
from autoconf.server import WORKERS
from autoconf.server import default_workers

_MIN_GUNICORN = (23, 0)
_version = tuple(int(part) for part in gunicorn.__version__.split(".")[:2] if part.isdigit())
if _version < _MIN_GUNICORN:
    raise RuntimeError(
        f"autoconf needs gunicorn >= 23.0 (request-smuggling fixes); found {gunicorn.__version__}"
    )


# --- Listening ------------------------------------------------------------------------------

# Loopback by default: the service is meant to sit behind nginx/Caddy, which own TLS, the body
# limit, rate limiting and the Authorization strip. Only a container binds a wider address, and
# then its own network namespace is the boundary.
bind = [addr.strip() for addr in BIND.text().split(",") if addr.strip()]

# Only these peers may set X-Forwarded-Proto (and so make the app believe a request was https).
# Loopback matches the nginx/Caddy-on-the-same-host layout; a container behind another host's
# proxy sets FORWARDED_ALLOW_IPS to that proxy's address. Note gunicorn applies no such check to
# UNIX sockets, so a socket must be writable by the proxy only.
forwarded_allow_ips = FORWARDED_ALLOW_IPS.text()

# --- Workers --------------------------------------------------------------------------------

# gthread: a lookup blocks a thread for up to the DNS budget (~2-2.5 s) while the worker's other
# threads keep serving; sync workers would stall on every cold lookup. Measured on 2 vCPUs with
# 2 workers x 4 threads: ~950 req/s for POX with p99 57 ms. The subclass adds a read/write
# timeout on every client socket (autoconf.gunicorn_worker): gthread itself waits for a
# request's first byte without a thread, but then blocks a thread on the rest for ever.
worker_class = "autoconf.gunicorn_worker.ClientTimeoutWorker"
workers = WORKERS.integer(default_workers())
threads = THREADS.integer()
# Not a gunicorn setting (gunicorn ignores the name): ClientTimeoutWorker reads the same
# variable; reading it here makes a bad value stop the start, not every worker.
client_read_timeout = client_timeout()

# The worker heartbeat deadline. A request's worst case is one DNS budget (queries run
# concurrently, lifetime ~2-2.5 s) plus rendering; 20 s is far above that, so a kill here means
# the process is wedged, not that DNS was slow. Kept below the proxies' 30 s read timeouts so the
# proxy reports the failure instead of hanging on.
timeout = 20

# On SIGTERM/reload, in-flight requests (bounded by one DNS budget) get this long to finish.
# Below systemd's TimeoutStopSec (90 s) and Kubernetes' terminationGracePeriodSeconds (30 s),
# so gunicorn, not SIGKILL, ends the workers.
graceful_timeout = 15

# Idle keep-alive towards the proxy. nginx's upstream keepalive_timeout is set below this (4 s)
# so nginx always closes an idle connection first; the other way round a request can be sent on
# a connection gunicorn is closing, and a POST is not retried (502).
keepalive = 5

# Recycle workers now and then so a slow leak (caches, parser state) cannot grow without bound;
# the jitter keeps all workers from restarting at the same moment. Each recycled worker's
# metrics files are folded into one archive per kind (child_exit below).
max_requests = 2000
max_requests_jitter = 200

# --- Request limits -------------------------------------------------------------------------

# The longest legitimate request line is a Thunderbird GET carrying a percent-encoded
# 254-character address (well under 1 KiB) or an Autodiscover v2 path with the address in it.
# 2 KiB leaves room; longer lines are probes. (gunicorn's default is 4094.)
limit_request_line = 2048

# Mail clients send about 10 headers and a proxy adds ~5. 50 is generous; the default is 100.
limit_request_fields = 50

# Same as nginx's large_client_header_buffers (8 KiB), so gunicorn never rejects a header that
# the proxy accepted and passed on (e.g. a big Cookie set for the parent domain).
limit_request_field_size = 8190

# --- Process hygiene ------------------------------------------------------------------------

# gunicorn >= 25.1 opens a control socket (under $XDG_RUNTIME_DIR or ~/.gunicorn) through which
# workers can be added or the server stopped. Nothing here uses it, it is one more thing that
# could be reached, and ~ is read-only under ProtectHome= and in the container. Older gunicorn
# ignores the unknown name.
control_socket_disable = True

proc_name = "autoconf"

# --- Logging --------------------------------------------------------------------------------

# Both logs go to stderr, where journald / the container runtime collect them.
accesslog = "-"
errorlog = "-"
loglevel = LOG_LEVEL.text()

# One JSON object per request. Path only: %(U)s is PATH_INFO without the query string, because
# query strings carry addresses (and, from some clients, passwords). Never %(r)s (request line)
# or %(q)s (query), never %(u)s (gunicorn decodes the user name out of Authorization: Basic),
# never {authorization}i. No client address either: behind the proxy it is always 127.0.0.1,
# and the proxy's own log has the real one.
# The path itself can hold an address (Autodiscover v2's path form): JsonAccessLogger below
# redacts it, and drops the request fragment gunicorn quotes in its malformed-request warnings.
# Typed as the app's own lines and nginx's log are: the time in ISO 8601 UTC, the numbers as
# JSON numbers (JsonAccessLogger.atoms makes them integers, whatever gunicorn had).
access_log_format = (
    '{"time": "%(t)s", "method": "%(m)s", "path": "%(U)s", "status": %(s)s, '
    '"bytes": %(B)s, "duration_us": %(D)s, "user_agent": "%({user-agent}i)s", '
    '"pid": %(p)s}'
)


class _JsonAtoms(SafeAtoms):  # type: ignore[misc]
    """Log atoms escaped for a JSON string, so a path like ``/a%22%0a`` cannot break the line.

    gunicorn's own escaping only prefixes double quotes; backslashes and control characters
    would still produce invalid JSON (and a forged second log line). Its quote-prefixing is
    skipped here, since JSON escaping already covers quotes and doing both doubles backslashes.
    """

    def __init__(self, atoms: dict[str, object]) -> None:
        dict.__init__(self, atoms)

    def __getitem__(self, key: str) -> object:
        value = super().__getitem__(key)
        if isinstance(value, str):
            return json.dumps(value, ensure_ascii=True)[1:-1]
        return value


#: The Autodiscover v2 path form ``/autodiscover/autodiscover.json/v1.0/<address>`` (any case)
#: puts the address in the path; everything after ``v1.0/`` is dropped from the log.
_V2_ADDRESS = re.compile(r"(?i)^(/autodiscover/autodiscover\.json/v1\.0/).+$")
REDACTED = "-redacted-"
_INVALID_REQUEST = "Invalid request from"
_CRASH = "Error handling request %s %s"
_SOCKET_ERROR = "Socket error processing request."


def redact_path(path: str) -> str:
    """The path as logged: the v2 address segment and any segment holding an ``@``
    (PATH_INFO is already percent-decoded, so ``%40`` counts) are replaced."""
    path = _V2_ADDRESS.sub(rf"\g<1>{REDACTED}", path)
    return "/".join(REDACTED if "@" in segment else segment for segment in path.split("/"))


class JsonAccessLogger(Logger):  # type: ignore[misc]
    """JSON-escaped access log atoms, with addresses redacted from the path."""

    atoms_wrapper_class = _JsonAtoms

    def atoms(
        self, resp: Any, req: Any, environ: Mapping[str, Any], request_time: Any
    ) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        atoms["U"] = redact_path(atoms.get("U") or "")
        # The unquoted fields of access_log_format: integers only, so the line stays JSON
        # (gunicorn gives "<pid>", a status that may be text, None for bytes never sent).
        atoms["t"] = utc_stamp(time.time())
        atoms["s"] = _integer(atoms.get("s"))
        atoms["B"] = _integer(atoms.get("B"))
        atoms["D"] = _integer(atoms.get("D"))
        atoms["p"] = os.getpid()
        return atoms

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """gunicorn quotes the offending fragment of a malformed request in its warning
        (``Invalid HTTP Version: 'x?password=... HTTP/1.1'``); the fragment can carry a query
        string or a header value, so everything from the first quote on is dropped."""
        if isinstance(msg, str) and msg.startswith(_INVALID_REQUEST):
            head, quote, _ = msg.partition("'")
            msg = head + REDACTED if quote else msg
        super().warning(msg, *args, **kwargs)

    def exception(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """gunicorn logs an application crash as ``Error handling request <method> <uri>``
        with the raw URI, query string included: log the redacted path instead. A client
        that stalled past the read timeout is one info line, not an error with a traceback
        (any client can cause it)."""
        if msg == _CRASH and len(args) == 2:
            args = (args[0], redact_path(urlsplit(str(args[1])).path))
        if msg == _SOCKET_ERROR and is_stall(sys.exc_info()[1]):
            super().info(STALLED_MESSAGE)
            return
        super().exception(msg, *args, **kwargs)


def _integer(value: object) -> int:
    """``value`` as a non-negative integer for the log; 0 when it is none."""
    if isinstance(value, int) and value >= 0:
        return value
    text = str(value)
    return int(text) if text.isascii() and text.isdigit() else 0


def pre_request(worker: Any, req: Any) -> None:
    """gunicorn's default hook logs the raw path at debug level; log it redacted."""
    worker.log.debug("%s %s", req.method, redact_path(req.path))


logger_class = JsonAccessLogger

# --- Start-up and Prometheus multiprocess mode ----------------------------------------------


def _multiproc_dir() -> Path | None:
    raw = os.environ.get(PROMETHEUS_MULTIPROC_DIR.name, "").strip()
    return Path(raw) if raw else None


def on_starting(server: Any) -> None:
    """Before any socket or worker: refuse a broken configuration or zone file, load the
    zone files once for every worker, and empty the metrics directory (files left by a
    previous run would be summed into ours)."""
    from autoconf.config import load_settings
    from autoconf.errors import ConfigError
    from autoconf.sources import preload_zones

    try:
        settings = load_settings()
        preload_zones(settings)
    except ConfigError as exc:
        # gunicorn prints a RuntimeError as "Error: ..." and exits with status 1.
        raise RuntimeError(f"configuration error: {exc.detail}") from None
    _state_directory(server, settings)
    directory = _multiproc_dir()
    if directory is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def on_reload(server: Any) -> None:
    """SIGHUP: the new workers start from the zone files as they are now, or as last
    loaded when one is broken (one error line; the service keeps answering)."""
    from autoconf.sources import on_reload as reload_zones

    reload_zones(server)


def _state_directory(server: Any, settings: Any) -> None:
    """Say where the settings snapshot lives (docs/operations.md), creating the directory
    (0700) before any worker needs it. A directory that cannot be made is no reason to
    refuse to start: the workers then start cold."""
    from autoconf.snapshot import FILE_NAME
    from autoconf.snapshot import state_directory

    # The arbiter's logger; a hook called without one (tests) logs through logging.
    log = getattr(server, "log", None) or logging.getLogger(__name__)
    directory = state_directory(settings, os.environ)
    if directory is None:
        log.info("settings snapshot off ($STATE_DIRECTORY and [state] directory unset)")
        return
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("state directory %s: %s; workers start cold", directory, exc.strerror)
        return
    log.info("settings snapshot: %s", directory / FILE_NAME)


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: fold its metrics files (and any other dead process's) into the
    archive, so the directory stays bounded however many workers are recycled, and tell
    prometheus_client so its live gauges stop being reported."""
    directory = _multiproc_dir()
    if directory is None:
        return
    # The arbiter has already dropped ``worker`` from WORKERS; the master itself never
    # counts (it does not load the app) but is kept out on principle.
    live = {int(pid) for pid in server.WORKERS} | {os.getpid()}
    try:
        multiprocess.mark_process_dead(worker.pid, str(directory))  # type: ignore[no-untyped-call]
        if not archive_dead_processes(directory, live):
            server.log.warning("metrics archive busy: dead workers' files kept until the next exit")
    except Exception:
        # The hook runs in the arbiter, where an exception would stop the whole service;
        # the files stay where they are and /metrics still counts them.
        server.log.exception("metrics archive failed: dead workers' files kept")

"""Structured logs for the entry point (``autoconf.wsgi``, which ``mail-autoconf serve`` runs).

Library code only calls ``logging.getLogger(__name__)``; handlers are installed here, by
the programs, never at import. Log lines carry paths, domains and error types, never
query strings, bodies or ``Authorization``; addresses only when ``logging.addresses`` is
set (docs/security-model.md, "What is logged, and what never is").
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from typing import Any

#: LogRecord attributes that are not user-supplied extras.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


def _timestamp(record: logging.LogRecord) -> str:
    return f"{_second(int(record.created))}.{int(record.msecs):03d}Z"


def utc_stamp(seconds: float) -> str:
    """``2026-11-30T08:42:18.551Z``: the time field of every JSON line, ours and gunicorn's."""
    return f"{_second(int(seconds))}.{int((seconds - int(seconds)) * 1000):03d}Z"


@functools.lru_cache(maxsize=4)
def _second(seconds: int) -> str:
    # Every line of one second shares this part: formatted once.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


#: One encoder for every line (json.dumps with options builds a new one per call).
_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, pid, message, and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _ENCODER.encode(entry)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...`` for a developer's terminal."""

    def format(self, record: logging.LogRecord) -> str:
        pairs = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        line = f"{line} {pairs}" if pairs else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(fmt: str = "json", level: str = "info") -> None:
    """Send the ``autoconf`` loggers to stderr in ``fmt`` ("json" or "text").

    Calling it again replaces the handler. ``autoconf.wsgi`` calls it once, with what the
    configuration asks for, before the application logs anything.
    """
    # Neither format shows thread or process names: not looking them up makes every
    # record (one per request) cheaper. The pid stays (``pid`` in JSON lines).
    logging.logThreads = False
    logging.logMultiprocessing = False
    logger = logging.getLogger("autoconf")
    for handler in [h for h in logger.handlers if getattr(h, "_autoconf", False)]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if fmt == "text" else JsonFormatter())
    handler._autoconf = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False

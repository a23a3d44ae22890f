"""Structured JSON logs for the entry points (``autoconf serve``, ``wsgi.py``).

Library code only calls ``logging.getLogger(__name__)``; handlers are installed here, by
the programs, never at import. Log lines carry paths and error types, never query
strings, bodies, addresses or ``Authorization`` (security.md section 5).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

#: LogRecord attributes that are not user-supplied extras.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(level: str = "INFO") -> None:
    """Send the ``autoconf`` loggers to stderr as JSON (idempotent)."""
    logger = logging.getLogger("autoconf")
    if any(getattr(h, "_autoconf", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._autoconf = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False

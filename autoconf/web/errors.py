"""The one place where exceptions become HTTP answers.

Each client format has its own way to say "no": Thunderbird wants a bare 404 (a 2xx with
an error page would block its other lookups, clients.md section 1.1), Autodiscover wants
its Error document. The renderer is chosen by the blueprint that served the request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask
from flask import Response
from flask import request

from autoconf.errors import AutoconfError
from autoconf.errors import DnsUnavailableError

log = logging.getLogger(__name__)

ErrorRenderer = Callable[[AutoconfError], Response]


def plain(error: AutoconfError) -> Response:
    """A short text answer; a 404 has no body at all."""
    body = "" if error.http_status == 404 else error.public_message + "\n"
    return Response(body, status=error.http_status, content_type="text/plain; charset=utf-8")


#: Blueprint name -> renderer; formats without an entry answer in plain text.
RENDERERS: dict[str, ErrorRenderer] = {}


def handle(error: AutoconfError) -> Response:
    """Log at a level matching the cause and answer in the requesting client's format."""
    level = logging.WARNING if isinstance(error, DnsUnavailableError) else logging.INFO
    # The path only: query strings can carry addresses or (misguidedly) passwords.
    log.log(
        level,
        "%s %s -> %d: %s",
        request.method,
        request.path,
        error.http_status,
        type(error).__name__,
    )
    response = RENDERERS.get(request.blueprint or "", plain)(error)
    if isinstance(error, DnsUnavailableError):
        response.headers["Retry-After"] = str(error.retry_after)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    """Install the handler for the whole exception tree."""
    app.register_error_handler(AutoconfError, handle)

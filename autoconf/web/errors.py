"""Request errors become answers, each in the asking client's own format.

Every client format registers its error answer with Flask, on its own blueprint
(``Blueprint.register_error_handler``): Autodiscover its Error document
(:mod:`.autodiscover`), v2 its JSON (:mod:`.autodiscover_json`), the diagnostics page
itself (:mod:`.diag`), Thunderbird, the Apple profile and the DAV redirects a bare status
(:func:`plain`). The application's own handler answers the rest (health, unrouted paths)
with :func:`plain`. Whatever the format, :func:`handler` adds what every error answer
shares: the log lines, ``Retry-After`` for a DNS outage, ``Cache-Control: no-store``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask
from flask import Response
from flask import request

from autoconf.errors import DecisionBudgetError
from autoconf.errors import DnsUnavailableError
from autoconf.errors import RequestError
from autoconf.web import asked
from autoconf.web import responses

log = logging.getLogger(__name__)

#: A format's error answer: the body and status that tell the client ``error``.
Render = Callable[[RequestError], Response]


def plain(error: RequestError) -> Response:
    """The status hint with a short text; a 404 has no body at all (Thunderbird reads a
    404 as "nothing here" and goes on to its next lookup, where a 2xx with an error page
    would win and end them: FetchConfig.sys.mjs)."""
    body = "" if error.error_status_hint == 404 else error.public_message + "\n"
    return responses.text(body, status=error.error_status_hint)


def handler(render: Render) -> Render:
    """The error handler of a format whose error answer ``render`` makes."""

    def handle(error: RequestError) -> Response:
        # Every request gets one INFO line (autoconf.request) naming the error; a DNS
        # outage is worth a warning of its own, a client's mistake only a debug line, and
        # so is a refusal by the hosting budget (a flood of strangers must not flood the
        # log twice).
        outage = isinstance(error, DnsUnavailableError) and not isinstance(
            error, DecisionBudgetError
        )
        level = logging.WARNING if outage else logging.DEBUG
        asked.note_outcome(type(error).__name__)
        # The endpoint name, never the path or query: the v2 JSON path form carries the
        # address in the path, query strings carry addresses or even passwords
        # (docs/security-model.md).
        log.log(
            level,
            "%s %s -> %d: %s",
            request.method,
            request.endpoint or "unrouted",
            error.error_status_hint,
            type(error).__name__,
        )
        response = render(error)
        if isinstance(error, DnsUnavailableError):
            response.headers["Retry-After"] = str(error.retry_after)
        if "Cache-Control" not in response.headers:  # each renderer says no-store itself
            responses.apply(response, responses.NO_STORE)
        return response

    return handle


def init_app(app: Flask) -> None:
    """Answer request errors outside any format (health, unrouted) in plain text."""
    app.register_error_handler(RequestError, handler(plain))

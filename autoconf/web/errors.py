"""The one place where exceptions become HTTP answers.

Each client format has its own way to say "no": Thunderbird wants a bare 404 (a 2xx with
an error page would win and end its other lookups, FetchConfig.sys.mjs), Autodiscover wants
its Error document. The renderer is chosen by the blueprint that served the request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask
from flask import Response
from flask import request

from autoconf import requestlog
from autoconf.errors import AutoconfError
from autoconf.errors import DecisionBudgetError
from autoconf.errors import DnsUnavailableError
from autoconf.formats import autodiscover
from autoconf.formats import autodiscover_json
from autoconf.web.autodiscover_json import json_response
from autoconf.web.common import state
from autoconf.web.common import xml_response

log = logging.getLogger(__name__)

ErrorRenderer = Callable[[AutoconfError], Response]


def plain(error: AutoconfError) -> Response:
    """A short text answer; a 404 has no body at all."""
    body = "" if error.http_status == 404 else error.public_message + "\n"
    return Response(body, status=error.http_status, content_type="text/plain; charset=utf-8")


def autodiscover_xml(error: AutoconfError) -> Response:
    """The POX Error document with the error's ErrorCode and HTTP status.

    600 -> 400 (Thunderbird treats non-2xx and Error alike; a 400 also tells proxies and
    logs the truth), 601 -> 200 (the Error is the answer, [MS-ASCMD] 2.2.3.64), unknown
    domain / no settings -> 404 with 601 (see NotServedError), DNS failure -> 503 with 603.
    """
    body = autodiscover.render_error(state().templates, error)
    return xml_response(body, status=error.http_status)


def autodiscover_v2(error: AutoconfError) -> Response:
    """``{"ErrorCode": ..., "ErrorMessage": ...}``, e.g. 400 InvalidProtocol."""
    return json_response(autodiscover_json.render_error(error), status=error.http_status)


#: Blueprint name -> renderer; formats without an entry answer in plain text.
RENDERERS: dict[str, ErrorRenderer] = {
    "autodiscover": autodiscover_xml,
    "autodiscover_json": autodiscover_v2,
}


def handle(error: AutoconfError) -> Response:
    """Log at a level matching the cause and answer in the requesting client's format."""
    # Every request gets one INFO line (autoconf.request) naming the error; a DNS outage is
    # worth a warning of its own, a client's mistake only a debug line, and so is a refusal
    # by the hosting budget (a flood of strangers must not flood the log twice).
    outage = isinstance(error, DnsUnavailableError) and not isinstance(error, DecisionBudgetError)
    level = logging.WARNING if outage else logging.DEBUG
    requestlog.note_outcome(type(error).__name__)
    # The endpoint name, never the path or query: the v2 JSON path form carries the address
    # in the path, query strings carry addresses or even passwords (docs/security-model.md).
    log.log(
        level,
        "%s %s -> %d: %s",
        request.method,
        request.endpoint or "unrouted",
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

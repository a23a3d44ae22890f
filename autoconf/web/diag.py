"""The diagnostics page at ``/`` (docs/operations.md, "The diagnostics page").

One GET form, one result: the records, the trust decisions, the lint findings (from
:func:`autoconf.diagnostics.report.cached_report`: the settings clients get, from the
settings cache) and every client's document (from :mod:`autoconf.diagnostics.documents`,
i.e. the formats' own renderers). The blueprint is only registered when ``[diagnostics]
enabled`` is true, so a disabled page is an unknown path.

The page is public: it costs at most the client endpoints' DNS (through the same cache)
plus a few lint questions per load, only :data:`MAX_CONCURRENT_VIEWS` views per worker
run at once, and DNS errors are shown as generic reasons only.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request
from flask.blueprints import BlueprintSetupState

from autoconf.address import Address
from autoconf.diagnostics.documents import Inputs
from autoconf.diagnostics.documents import show_all
from autoconf.diagnostics.report import Report
from autoconf.diagnostics.report import cached_report
from autoconf.diagnostics.report import parse_target
from autoconf.diagnostics.report import record_data
from autoconf.errors import InvalidAddressError
from autoconf.errors import RequestError
from autoconf.errors import UnknownDomainError
from autoconf.web import asked
from autoconf.web import errors
from autoconf.web import responses
from autoconf.web.state import state

bp = Blueprint("diag", __name__)

TEMPLATE = "diag.html"
#: The longest address is 64 + 1 + 255 octets (RFC 5321 section 4.5.3.1); anything longer
#: is refused before any parsing, and never echoed back.
MAX_INPUT = 320
#: Stand-in local part when only a domain was typed (documents that carry the address).
SAMPLE_LOCAL_PART = "user"
#: Diagnoses one worker runs at once. A view may wait on DNS (a load, the lint questions);
#: this stays below the threads of a worker (4 as shipped), so views can never
#: take every thread from the client endpoints. More views at once are refused at once
#: (503), never queued behind DNS.
MAX_CONCURRENT_VIEWS = 1
#: Retry-After of that refusal, in seconds: a view waits on DNS for a load and for the
#: lint questions at most, each bounded by ``dns.timeout`` (2 s by default).
BUSY_RETRY_AFTER = 2
#: app.extensions key of this worker's view slots.
SLOTS = "autoconf.diag.slots"
BUSY = "The diagnostics page is busy in this worker; try again in a moment."


@bp.record_once
def _setup(setup: BlueprintSetupState) -> None:
    setup.app.extensions[SLOTS] = threading.BoundedSemaphore(MAX_CONCURRENT_VIEWS)


@bp.get("/")
def page() -> Response:
    """The form; with ``address`` also the diagnosis for its domain."""
    typed = typed_input()
    if not typed:
        return page_response(render_page())
    address, domain = parse_target(typed)
    asked.describe(asked.Asked(format=bp.name, domain=domain, address=address))
    # Allow-list first: an unserved domain costs no DNS query (UnknownDomainError -> 404);
    # with [hosting], the cached decision, under the budget, as for every client.
    discoverer = state().discoverer
    discoverer.primary(domain)
    slots: threading.BoundedSemaphore = current_app.extensions[SLOTS]
    if not slots.acquire(blocking=False):
        asked.note_outcome("PageBusy")
        response = page_response(render_page(typed=typed, problem=BUSY), 503)
        response.headers["Retry-After"] = str(BUSY_RETRY_AFTER)
        return response
    try:
        return diagnosis(typed, address, domain)
    finally:
        slots.release()


def diagnosis(typed: str, address: Address | None, domain: str) -> Response:
    """The page with the report for a served ``domain`` (rendering included: a report of
    thousands of records costs CPU, so it is part of the bounded work)."""
    report = cached_report(state().discoverer, domain).public()
    # Documents are shown for the primary domain: Autodiscover clients asking for an alias
    # address are first redirected there, Thunderbird gets the primary's document directly.
    local_part = address.local_part if address else SAMPLE_LOCAL_PART
    shown_for = Address(local_part=local_part, domain=report.primary)
    response = page_response(render_page(typed=typed, report=report, address=shown_for))
    if report.error:
        # The same status and hint clients get while DNS fails.
        asked.note_outcome("DnsUnavailableError")
        response.status_code = 503
        response.headers["Retry-After"] = str(report.retry_after)
    return response


def typed_input() -> str:
    """The ``address`` parameter, trimmed; over-long input is refused unseen."""
    typed = request.args.get("address", "").strip()
    if len(typed) > MAX_INPUT:
        raise InvalidAddressError(f"longer than {MAX_INPUT} characters")
    return typed


def cache_state(domain: str) -> str:
    """This worker's cache entry for ``domain`` as a phrase."""
    cache = state().discoverer.cache
    if cache is None:
        return "disabled ([cache] enabled = false)"
    return cache.peek(domain) if domain else ""


def render_page(
    *,
    typed: str = "",
    report: Report | None = None,
    address: Address | None = None,
    problem: str = "",
    reasons: tuple[str, ...] = (),
) -> str:
    """The whole page; every value is autoescaped by the template environment."""
    current = state()
    context: dict[str, Any] = {
        "typed": typed,
        "report": report,
        "problem": problem,
        "reasons": reasons,
        "documents": (),
        "cache": cache_state(report.primary if report else ""),
        "max_input": MAX_INPUT,
        "shown_for": "",
        "record_data": record_data,
    }
    if report is not None and report.provider is not None and address is not None:
        inputs = Inputs(
            templates=current.templates,
            settings=current.settings,
            provider=report.provider,
            address=address,
        )
        context["documents"] = show_all(inputs)
        context["shown_for"] = str(address)
    return current.templates.get_template(TEMPLATE).render(**context)


def page_response(html: str, status: int = 200) -> Response:
    """An HTML answer that no cache keeps and no other site may frame or script."""
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    responses.apply(response, responses.NO_STORE)
    # No script at all; styles are inline in the one template.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The query string holds the address: keep it out of Referer headers.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def error_page(error: RequestError) -> Response:
    """Errors of the page as the page itself, with the input shown again when short."""
    typed = request.args.get("address", "").strip()
    typed = typed if len(typed) <= MAX_INPUT else ""
    status = error.error_status_hint
    reasons = error.reasons if isinstance(error, UnknownDomainError) else ()
    problem = {
        404: "This domain is not served here, so nothing was looked up.",
        400: f"That is neither an e-mail address nor a domain name: {error.detail}.",
    }.get(status, error.public_message)
    if reasons:  # [hosting]: its DNS was looked up, and no condition held
        problem = "This domain is not served here: it is not listed, and not hosted here."
    page = render_page(typed=typed, problem=problem, reasons=reasons)
    return page_response(page, status)


bp.register_error_handler(RequestError, errors.handler(error_page))

"""Request body cap on every route, before any view runs (docs/security-model.md, Limits).

Only the POX POST reads a body; it also counts what it reads, because a chunked body has
no declared length (``web/autodiscover.read_body``). Every other route never reads one,
so a declared length over ``http.max_body_bytes`` is refused here with 413 for them too,
in the requesting client's error format, instead of being answered as if it were absent.
"""

from __future__ import annotations

from flask import request

from autoconf.errors import PayloadTooLargeError


def check(limit: int) -> None:
    """Refuse a declared body longer than ``limit`` bytes, on every route."""
    # Most requests (GETs) declare no body: skip Werkzeug's parsing property for them.
    if "CONTENT_LENGTH" not in request.environ:
        return
    if (request.content_length or 0) > limit:
        raise PayloadTooLargeError("request body over the limit")

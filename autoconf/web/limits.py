"""Request body cap on every route, before any view runs (docs/security-model.md, Limits).

Only the POX POST reads a body; it also counts what it reads, because a chunked body has
no declared length (``web/autodiscover.read_body``). Every other route never reads one,
so a declared length over ``http.max_body_bytes`` is refused here with 413 for them too,
in the requesting client's error format, instead of being answered as if it were absent.
"""

from __future__ import annotations

from flask import Flask
from flask import request

from autoconf.errors import PayloadTooLargeError
from autoconf.web.common import state


def _check() -> None:
    # Most requests (GETs) declare no body: skip Werkzeug's parsing property for them.
    if "CONTENT_LENGTH" not in request.environ:
        return
    if (request.content_length or 0) > state().settings.http.max_body_bytes:
        raise PayloadTooLargeError("request body over the limit")


def init_app(app: Flask) -> None:
    """Refuse oversized declared bodies on every route."""
    app.before_request(_check)

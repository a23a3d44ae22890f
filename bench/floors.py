"""The two floors of the benchmark: constant answers with the very bytes autoconf sends.

``flask_app`` is the framework floor (Flask routing and a Response, nothing else);
``wsgi_app`` the server floor (a bare WSGI callable). Both read the body from the file
named by ``$BENCH_BODY`` and answer it to any path and method.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask import Flask
from flask import Response

BODY = Path(os.environ.get("BENCH_BODY", os.devnull)).read_bytes()
XML = "text/xml; charset=utf-8"

flask_app = Flask("floor")


@flask_app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
@flask_app.route("/<path:path>", methods=["GET", "POST"])
def constant(path: str) -> Response:
    """The same bytes for every request."""
    return Response(BODY, content_type=XML)


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The same bytes, without any framework."""
    start_response("200 OK", [("Content-Type", XML), ("Content-Length", str(len(BODY)))])
    return [BODY]

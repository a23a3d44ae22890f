"""Thunderbird autoconfig views (the URLs of comm-central's FetchConfig.sys.mjs).

Refusals are a bare status: Thunderbird reads any answer that is not a valid document as
"nothing here" and goes on to its next lookup (comm-central's FetchConfig.sys.mjs), and an
unknown domain's 404 must not look like an error page.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response

from autoconf.errors import RequestError
from autoconf.formats import ClientFormat
from autoconf.formats import thunderbird
from autoconf.web import errors
from autoconf.web import responses
from autoconf.web.common import describe_query
from autoconf.web.state import state

bp = Blueprint(ClientFormat.THUNDERBIRD, __name__)
bp.register_error_handler(RequestError, errors.handler(errors.plain))


@bp.get("/mail/config-v1.1.xml")
@bp.get("/.well-known/autoconfig/mail/config-v1.1.xml")
def config_v11() -> Response:
    """``emailaddress`` is optional: Thunderbird for Android and Delta Chat omit it.

    The document holds placeholders, not the address, so one rendering per provider
    version serves every address and shared caches may keep it for the remaining TTL.
    """
    asked = describe_query(ClientFormat.THUNDERBIRD, "emailaddress")
    current = state()
    served = current.discoverer.served(asked.domain)
    document = current.documents.get(
        (ClientFormat.THUNDERBIRD, served.version),
        lambda: thunderbird.render(current.templates, served.provider),
    )
    cacheability = responses.per_domain(asked.domain, served.max_age)
    return responses.xml(document.body, cacheability, etag=document.etag)

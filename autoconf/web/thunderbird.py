"""Thunderbird autoconfig views (the URLs of comm-central's FetchConfig.sys.mjs)."""

from __future__ import annotations

from flask import Blueprint
from flask import Response

from autoconf.formats import thunderbird
from autoconf.web.common import query_domain
from autoconf.web.common import state
from autoconf.web.common import xml_response

bp = Blueprint("thunderbird", __name__)
FORMAT = "thunderbird"


@bp.get("/mail/config-v1.1.xml")
@bp.get("/.well-known/autoconfig/mail/config-v1.1.xml")
def config_v11() -> Response:
    """``emailaddress`` is optional: Thunderbird for Android and Delta Chat omit it.

    The document holds placeholders, not the address, so one rendering per provider
    version serves every address and shared caches may keep it for the remaining TTL.
    """
    current = state()
    domain = query_domain("emailaddress")
    served = current.discoverer.served(domain)
    document = current.documents.get(
        (FORMAT, served.version), lambda: thunderbird.render(current.templates, served.provider)
    )
    return xml_response(document.body, max_age=served.max_age, domain=domain, etag=document.etag)

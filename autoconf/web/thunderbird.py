"""Thunderbird autoconfig views (clients.md section 1.2)."""

from __future__ import annotations

from flask import Blueprint
from flask import Response

from autoconf.formats import thunderbird
from autoconf.web.common import query_domain
from autoconf.web.common import state
from autoconf.web.common import xml_response

bp = Blueprint("thunderbird", __name__)

#: Upper bound for shared caches; the DNS TTL usually decides first.
MAX_AGE_CAP = 3600


@bp.get("/mail/config-v1.1.xml")
@bp.get("/.well-known/autoconfig/mail/config-v1.1.xml")
def config_v11() -> Response:
    """``emailaddress`` is optional: Thunderbird for Android and Delta Chat omit it."""
    current = state()
    provider = current.discoverer.provider(query_domain("emailaddress"))
    body = thunderbird.render(current.templates, provider)
    return xml_response(body, max_age=max(0, min(provider.ttl, MAX_AGE_CAP)))

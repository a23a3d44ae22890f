"""CalDAV/CardDAV bootstrapping: ``/.well-known/caldav`` and ``/.well-known/carddav``.

RFC 6764 section 5: the well-known URI redirects to the service's context path, and the
service MUST NOT live at the well-known URI itself. The target comes from the domain's own
``_caldavs``/``_carddavs`` SRV and TXT ``path=`` records (sections 3, 4), so a client that
follows the redirect and one that reads DNS itself land on the same URL.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint
from flask import Response
from flask import request

from autoconf.errors import NoSettingsError
from autoconf.errors import RequestError
from autoconf.formats import ClientFormat
from autoconf.model import Protocol
from autoconf.web import errors
from autoconf.web import responses
from autoconf.web.asked import Asked
from autoconf.web.asked import describe
from autoconf.web.common import host_domain
from autoconf.web.state import state

bp = Blueprint(ClientFormat.DAV, __name__)
# A domain without DAV gets a bare 404, like any path that is not there.
bp.register_error_handler(RequestError, errors.handler(errors.plain))

SERVICES = {"caldav": Protocol.CALDAV, "carddav": Protocol.CARDDAV}

# 307, not 301. RFC 6764 section 5 allows 301, 303 or 307. The target is derived from DNS
# and changes when the records do, so the redirect must stay temporary: clients keep
# asking the well-known URI instead of remembering a moved-permanently answer forever.
# 307 also forbids turning the PROPFIND (with its body) into a GET (RFC 9110 section
# 15.4.8), which 301 and 303 permit. How long the answer may be reused is said by
# Cache-Control (section 5 asks servers to set it), bounded by the records' TTL.
REDIRECT_STATUS = 307


@bp.route("/.well-known/<any(caldav, carddav):service>", methods=["GET", "HEAD", "PROPFIND"])
@bp.route("/.well-known/<any(caldav, carddav):service>/", methods=["GET", "HEAD", "PROPFIND"])
def well_known(service: str) -> Response:
    """Redirect to the Host domain's DAV context URL; 404 when it publishes none.

    The trailing-slash form is redirected alike: some clients and proxies ask
    ``/.well-known/caldav/`` (RFC 8615 registers the name, not the slash).
    """
    asked = describe(Asked(format=ClientFormat.DAV, domain=host_domain())).domain
    current = state()
    route = current.discoverer.route(asked)
    domain = route.primary
    served = current.discoverer.settings_of(route, mail=False)
    provider = served.provider
    servers = provider.of(SERVICES[service])
    if not servers:
        raise NoSettingsError(f"{domain} publishes no {service} service")
    target = servers[0].url
    if _is_self(target):
        raise NoSettingsError(f"{domain}: {service} SRV/TXT point back at this URI")
    response = Response(status=REDIRECT_STATUS, headers={"Location": target})
    return responses.apply(response, responses.per_domain(asked, served.max_age))


def _is_self(url: str) -> bool:
    """A target equal to the request's own URI would loop (and RFC 6764 section 5 forbids
    serving DAV there)."""
    parts = urlsplit(url)
    same_path = parts.path.rstrip("/") == request.path.rstrip("/")
    return parts.netloc.lower() == request.host.lower() and same_path

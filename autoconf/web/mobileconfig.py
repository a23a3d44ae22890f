"""Apple configuration profile downloads (``com.apple.mail.managed``, apple/device-management).

There is no standard URL (Apple Mail asks nothing over HTTP); ``/mobileconfig`` and
``/email.mobileconfig`` are linked from a help page or opened on the device. The address is
required: a profile holds it, unlike the placeholder-based autoconfig document. Refusals
are a bare status.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import request

from autoconf.address import Address
from autoconf.address import parse_address
from autoconf.errors import BadRequestError
from autoconf.errors import RequestError
from autoconf.formats import ClientFormat
from autoconf.formats import mobileconfig
from autoconf.web import errors
from autoconf.web import responses
from autoconf.web.asked import Asked
from autoconf.web.asked import describe
from autoconf.web.common import query_value
from autoconf.web.state import state

bp = Blueprint(ClientFormat.MOBILECONFIG, __name__)
bp.register_error_handler(RequestError, errors.handler(errors.plain))

#: Query parameters naming the address (``email`` is what Monogramm links use).
ADDRESS_PARAMETERS = ("emailaddress", "email")
CONTENT_TYPE = "application/x-apple-aspen-config"


@bp.get("/mobileconfig")
@bp.get("/email.mobileconfig")
def profile() -> Response:
    """The profile for ``?emailaddress=``; signed when ``[mobileconfig]`` has a signer.

    An optional ``?name=`` (a help page's "your name" field) becomes the sender name,
    cleaned and length-limited; it is never logged nor put in a header.
    """
    address = _address()
    describe(Asked(format=ClientFormat.MOBILECONFIG, domain=address.domain, address=address))
    current = state()
    provider = current.discoverer.provider(address.domain)
    settings = current.settings.mobileconfig
    options = mobileconfig.ProfileOptions(
        organization=settings.organization, identifier_prefix=settings.identifier_prefix
    )
    sender_name = mobileconfig.clean_sender_name(query_value("name") or "")
    body = mobileconfig.render(provider, address, options, sender_name=sender_name)
    if settings.signer is not None:
        body = settings.signer.sign(body)
    return _download(body, address.domain)


def _address() -> Address:
    """The address from the first present parameter (names matched case-insensitively).

    :raises BadRequestError: when none is given.
    :raises InvalidAddressError: when it is not an address.
    """
    for key, value in request.args.items(multi=True):
        if key.lower() in ADDRESS_PARAMETERS and value.strip():
            return parse_address(value)
    raise BadRequestError("emailaddress is required for a profile")


def _download(body: bytes, domain: str) -> Response:
    response = Response(body, content_type=CONTENT_TYPE)
    # The file name is the validated A-label domain only: never the local part, never
    # anything unvalidated in a header (no header injection).
    response.headers["Content-Disposition"] = f'attachment; filename="{domain}.mobileconfig"'
    # The body carries the address.
    return responses.apply(response, responses.PER_USER)

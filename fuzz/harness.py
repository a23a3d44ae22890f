"""The checks each fuzz input goes through, shared by the atheris targets and pytest.

A check returns quietly for every acceptable outcome and raises for anything else: an
exception outside the project's error tree, a 5xx-class error, or an accepted value that
breaks an invariant (not normalised, not idempotent, not escaped when echoed). atheris
reports whatever escapes as a crash; ``tests/test_fuzz_corpus.py`` replays the committed
corpus through the same functions so CI exercises them without fuzzing.
"""

from __future__ import annotations

from functools import cache

import jinja2
from lxml import etree

from autoconf.address import Address
from autoconf.address import parse_address
from autoconf.address import parse_domain
from autoconf.errors import AutoconfError
from autoconf.errors import InvalidAddressError
from autoconf.formats import autodiscover
from autoconf.formats.autodiscover import Schema
from autoconf.model import Authentication
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import Security
from autoconf.model import Server
from autoconf.model import Username
from autoconf.templating import make_environment

#: [MS-OXDSCLI] 2.2.4.1.1.3.2 codes a request can earn: 600 invalid request, 601 schema.
CLIENT_CODES = frozenset({600, 601})
OUTLOOK_NS = Schema.OUTLOOK.value
MOBILESYNC_NS = Schema.MOBILESYNC.value


class InvariantError(AssertionError):
    """An input was handled without a crash but the result is wrong."""


def check_pox(data: bytes) -> None:
    """``parse_request`` accepts the body or refuses it with a client error (600/601);
    an accepted address renders into a well-formed answer and reads back unchanged."""
    try:
        request = autodiscover.parse_request(data)
    except AutoconfError as error:
        code = autodiscover.error_code(error)
        if error.error_status_hint >= 500 or code not in CLIENT_CODES:
            raise InvariantError(f"{type(error).__name__} for client input") from error
        return
    if request.address is None:
        raise InvariantError("a POST body must name an address")
    _check_address_invariants(request.address)
    _check_echo(request.schema, request.address)


def check_address(data: bytes) -> None:
    """Any text is a normalised, idempotent address or domain, or InvalidAddressError."""
    text = data.decode("utf-8", errors="replace")
    try:
        address = parse_address(text)
    except InvalidAddressError:
        pass
    else:
        _check_address_invariants(address)
    try:
        domain = parse_domain(text)
    except InvalidAddressError:
        return
    if parse_domain(domain) != domain:
        raise InvariantError("parse_domain is not idempotent")


def _check_address_invariants(address: Address) -> None:
    domain = address.domain
    if domain != domain.lower() or not domain.isascii() or domain.endswith("."):
        raise InvariantError(f"domain not normalised: {domain!r}")
    if len(address.local_part.encode("utf-8")) > 64 or len(domain) > 255:
        raise InvariantError("address over the RFC 5321 limits")
    if parse_address(str(address)) != address or parse_domain(domain) != domain:
        raise InvariantError("normalisation is not idempotent")


def _check_echo(schema: Schema, address: Address) -> None:
    """The address is echoed as text (escaped), never as markup."""
    provider = _provider(address.domain)
    body = autodiscover.render(_templates(), schema, provider, address)
    root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    namespace = OUTLOOK_NS if schema is Schema.OUTLOOK else MOBILESYNC_NS
    field = "LoginName" if schema is Schema.OUTLOOK else "EMailAddress"
    echoed = [e.text for e in root.iter(f"{{{namespace}}}{field}")]
    if echoed != [str(address)]:
        raise InvariantError(f"echoed {field} {echoed!r} != {str(address)!r}")


@cache
def _templates() -> jinja2.Environment:
    return make_environment()


def _provider(domain: str) -> Provider:
    imap = Server(
        protocol=Protocol.IMAP,
        host=f"mail.{domain}",
        port=993,
        security=Security.TLS,
        authentication=Authentication.PASSWORD_CLEARTEXT,
        username=Username.EMAILADDRESS,
    )
    return Provider(
        domain=domain,
        display_name="Fuzz",
        servers={Protocol.IMAP: (imap,)},
        incoming_order=(Protocol.IMAP,),
        activesync_url=f"https://mail.{domain}/Microsoft-Server-ActiveSync",
    )

"""The POX format module on its own: request parsing and rendering, no HTTP, no DNS."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from autoconf.address import Address
from autoconf.address import parse_address
from autoconf.errors import AutoconfError
from autoconf.errors import BadRequestError
from autoconf.errors import SchemaNotAvailableError
from autoconf.formats import autodiscover
from autoconf.formats.autodiscover import PoxRequest
from autoconf.formats.autodiscover import Schema
from autoconf.model import AliasLogin
from autoconf.model import Authentication
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import Security
from autoconf.model import Server
from autoconf.model import Username
from autoconf.templating import make_environment
from tests.pox import OUTLOOK_NS
from tests.pox import activesync_body
from tests.pox import outlook_body
from tests.pox import parse
from tests.pox import texts

ENV = make_environment()
ALICE = Address(local_part="alice", domain="example.org")


def server(protocol: Protocol, security: Security, port: int) -> Server:
    """A server at mail.example.org with the usual defaults."""
    return Server(
        protocol=protocol,
        host="mail.example.org",
        port=port,
        security=security,
        authentication=Authentication.PASSWORD_CLEARTEXT,
        username=Username.EMAILADDRESS,
    )


@pytest.mark.parametrize(
    ("security", "ssl", "encryption"),
    [
        (Security.TLS, "on", "SSL"),
        (Security.STARTTLS, "on", "TLS"),
        (Security.PLAIN, "off", "None"),
    ],
)
def test_security_table(security: Security, ssl: str, encryption: str) -> None:
    """[MS-OXDSCLI] SSL/Encryption, including the plain row no SRV record ever produces."""
    (block,) = autodiscover.protocol_blocks(
        Provider(
            domain="example.org",
            display_name="Example",
            servers={Protocol.IMAP: (server(Protocol.IMAP, security, 143),)},
            incoming_order=(Protocol.IMAP,),
        ),
        ALICE,
    )
    assert (block.ssl, block.encryption) == (ssl, encryption)


@pytest.mark.parametrize(
    ("provider", "address", "expected"),
    [
        (Provider(domain="example.org", display_name="E"), ALICE, "alice@example.org"),
        (Provider(domain="example.org", display_name="E"), None, ""),
        (
            Provider(domain="example.org", display_name="E", aliases=("alias.org",)),
            Address(local_part="alice", domain="alias.org"),
            "alice@example.org",
        ),
        (
            Provider(
                domain="example.org",
                display_name="E",
                aliases=("alias.org",),
                alias_login=AliasLogin.ADDRESS,
            ),
            Address(local_part="alice", domain="alias.org"),
            "alice@alias.org",
        ),
    ],
)
def test_login_name_is_the_shared_login(
    provider: Provider, address: Address | None, expected: str
) -> None:
    """``LoginName`` is autoconf.logins.login for the address; nothing without one. The
    per-user skeleton, filled, says the same as the blocks built for the address."""
    imap = server(Protocol.IMAP, Security.TLS, 993)
    provider = replace(provider, servers={Protocol.IMAP: (imap,)}, incoming_order=(Protocol.IMAP,))
    (block,) = autodiscover.protocol_blocks(provider, address)
    assert block.login_name == expected
    if address is not None:
        filled = parse(autodiscover.render(ENV, Schema.OUTLOOK, provider, address))
        assert texts(filled, "Account/Protocol/LoginName") == [expected]


def test_only_the_preferred_server_per_protocol() -> None:
    """One block per service: the first server of each protocol, SMTP after incoming."""
    provider = Provider(
        domain="example.org",
        display_name="Example",
        servers={
            Protocol.SMTP: (
                server(Protocol.SMTP, Security.TLS, 465),
                server(Protocol.SMTP, Security.STARTTLS, 587),
            ),
            Protocol.IMAP: (server(Protocol.IMAP, Security.TLS, 993),),
        },
        incoming_order=(Protocol.IMAP,),
    )
    blocks = autodiscover.protocol_blocks(provider, ALICE)
    assert [(b.type, b.port, b.smtp) for b in blocks] == [("IMAP", 993, False), ("SMTP", 465, True)]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (outlook_body("alice@example.org"), PoxRequest(address=ALICE, schema=Schema.OUTLOOK)),
        (activesync_body("alice@example.org"), PoxRequest(address=ALICE, schema=Schema.MOBILESYNC)),
        # A mobilesync schema asked with the outlook request namespace: the schema decides.
        (
            outlook_body("alice@example.org", Schema.MOBILESYNC.value),
            PoxRequest(address=ALICE, schema=Schema.MOBILESYNC),
        ),
    ],
)
def test_parse_request_table(body: bytes, expected: PoxRequest) -> None:
    """A request becomes its address and requested schema."""
    assert autodiscover.parse_request(body) == expected


def test_unknown_schema_raises_601_after_the_address_is_checked() -> None:
    """A bad address is 600 even when the schema is unknown; a good one then gets 601."""
    with pytest.raises(BadRequestError):
        autodiscover.parse_request(outlook_body("nope", "urn:x"))
    with pytest.raises(SchemaNotAvailableError):
        autodiscover.parse_request(outlook_body("alice@example.org", "urn:x"))


def test_mobilesync_without_url_refuses_to_render() -> None:
    """The renderer itself never produces a mobilesync answer without an ActiveSync URL."""
    provider = Provider(domain="example.org", display_name="Example")
    with pytest.raises(SchemaNotAvailableError):
        autodiscover.render(ENV, Schema.MOBILESYNC, provider, ALICE)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_parse_or_raise_a_client_error(body: bytes) -> None:
    """Arbitrary bytes never escape as anything but an AutoconfError below 500."""
    try:
        autodiscover.parse_request(body)
    except AutoconfError as error:
        assert error.error_status_hint < 500


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_text_as_address_parses_or_raises_600(text: str) -> None:
    """Any (escaped) text as EMailAddress gives a request or ErrorCode 600/601."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;")
    try:
        autodiscover.parse_request(outlook_body(escaped))
    except AutoconfError as error:
        assert autodiscover.error_code(error) in (600, 601)


@settings(max_examples=200, deadline=None)
@given(st.emails())
def test_rendered_login_name_round_trips(address: str) -> None:
    """For every address the parser accepts, the 2006a answer is well-formed and its
    LoginName reads back as the normalised address."""
    try:
        parsed = parse_address(address)
    except AutoconfError:
        return
    provider = Provider(
        domain=parsed.domain,
        display_name="Example",
        servers={Protocol.IMAP: (server(Protocol.IMAP, Security.TLS, 993),)},
        incoming_order=(Protocol.IMAP,),
    )
    root = parse(autodiscover.render(ENV, Schema.OUTLOOK, provider, parsed))
    assert texts(root, "Account/Protocol/LoginName", OUTLOOK_NS) == [str(parsed)]

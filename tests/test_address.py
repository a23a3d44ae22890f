"""Address and domain parsing: normalisation and refusal, from plain strings."""

from __future__ import annotations

import pytest

from autoconf.address import Address
from autoconf.address import parse_address
from autoconf.address import parse_domain
from autoconf.errors import InvalidAddressError


@pytest.mark.parametrize(
    ("text", "local", "domain"),
    [
        ("alice@example.com", "alice", "example.com"),
        ("  alice@example.com \n", "alice", "example.com"),  # POX bodies arrive padded
        ("Alice@EXAMPLE.COM", "Alice", "example.com"),  # local part kept, domain lowered
        ("alice@example.com.", "alice", "example.com"),  # trailing dot dropped
        ("alice@Straße.example", "alice", "xn--strae-oqa.example"),  # IDNA 2008, not 2003
        ("alice@xn--strae-oqa.example", "alice", "xn--strae-oqa.example"),
        ("alice@bücher.example", "alice", "xn--bcher-kva.example"),
        ("us&er@example.com", "us&er", "example.com"),  # legal, must be escaped later
        ("o'brien@example.com", "o'brien", "example.com"),
        ("EVOLUTIONUSER@example.com", "EVOLUTIONUSER", "example.com"),  # Evolution's probe
        ("jörg@example.com", "jörg", "example.com"),  # RFC 6531 UTF-8 local part
        ("alice@sub.example.test", "alice", "sub.example.test"),
    ],
)
def test_parse_address_normalises(text: str, local: str, domain: str) -> None:
    """Whitespace trimmed, domain lower-cased to its IDNA 2008 A-label, local part kept."""
    assert parse_address(text) == Address(local_part=local, domain=domain)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "alice",
        "@example.com",
        "alice@",
        "alice@[192.0.2.1]",  # domain literals are refused
        "alice@localhost",  # not a dotted name
        "a b@example.com",
        "alice@exa mple.com",
        "alice@example.com\r\nBcc: x@y.z",
        "x" * 65 + "@example.com",  # RFC 5321: local part <= 64 octets
        "alice@" + "a" * 64 + ".com",  # label > 63 octets
        "alice@" + ".".join(["a" * 60] * 5) + ".com",  # domain > 255 octets
        "a" * 2000,
        "alice@-bad.example",
        "alice@exa_mple.com",
        "<script>@example.com",
    ],
)
def test_parse_address_refuses(text: str) -> None:
    """Anything that is not a usable address raises the typed error."""
    with pytest.raises(InvalidAddressError):
        parse_address(text)


def test_idna_2003_mapping_is_not_used() -> None:
    """Python's built-in codec maps ß to ss (a different domain); we must not."""
    assert "straße.example".encode("idna") == b"strasse.example"
    assert parse_domain("straße.example") == "xn--strae-oqa.example"


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("Example.COM.", "example.com"),
        (" example.com ", "example.com"),
        ("\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com", "example.com"),
    ],  # full-width letters mapped by UTS #46
)
def test_parse_domain(text: str, domain: str) -> None:
    """Domains alone normalise the same way as the domain of an address."""
    assert parse_domain(text) == domain


def test_with_domain_keeps_local_part() -> None:
    """Alias redirects keep the mailbox and change only the domain."""
    address = parse_address("Bob@alias.test")
    assert str(address.with_domain("example.test")) == "Bob@example.test"

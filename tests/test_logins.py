"""The one login rule (autoconf.logins) on its own, and every format agreeing with it."""

from __future__ import annotations

import plistlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoconf import logins
from autoconf.address import Address
from autoconf.formats import autodiscover
from autoconf.formats import mobileconfig
from autoconf.formats import thunderbird
from autoconf.formats.autodiscover import Schema
from autoconf.model import AliasLogin
from autoconf.model import Authentication
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import Security
from autoconf.model import Server
from autoconf.model import Username
from autoconf.templating import make_environment
from tests.pox import parse
from tests.pox import texts

ENV = make_environment()
PLAIN = Provider(domain="example.org", display_name="E")
ALIASED = Provider(domain="example.org", display_name="E", aliases=("alias.org",))
MAPPED = Provider(
    domain="example.org",
    display_name="E",
    aliases=("alias.org",),
    alias_login=AliasLogin.ADDRESS,
)


@pytest.mark.parametrize(
    ("provider", "username", "template"),
    [
        (PLAIN, Username.EMAILADDRESS, "%EMAILADDRESS%"),
        (PLAIN, Username.EMAILLOCALPART, "%EMAILLOCALPART%"),
        # Aliases and the default rule: every address logs in at the primary domain.
        (ALIASED, Username.EMAILADDRESS, "%EMAILLOCALPART%@example.org"),
        (ALIASED, Username.EMAILLOCALPART, "%EMAILLOCALPART%"),
        (MAPPED, Username.EMAILADDRESS, "%EMAILADDRESS%"),
        (MAPPED, Username.EMAILLOCALPART, "%EMAILLOCALPART%"),
    ],
)
def test_template_table(provider: Provider, username: Username, template: str) -> None:
    """The template the Thunderbird document carries, per rule."""
    assert logins.template(provider, username) == template


@pytest.mark.parametrize(
    ("provider", "address", "login"),
    [
        (ALIASED, "bob@alias.org", "bob@example.org"),
        (ALIASED, "bob@example.org", "bob@example.org"),
        (MAPPED, "bob@alias.org", "bob@alias.org"),
        (PLAIN, "bob@example.org", "bob@example.org"),
    ],
)
def test_login_table(provider: Provider, address: str, login: str) -> None:
    """The login the mail server sees for an address, primary or alias."""
    local, _, domain = address.partition("@")
    typed = Address(local_part=local, domain=domain)
    assert logins.login(provider, Username.EMAILADDRESS, typed) == login


def test_expansion_is_one_pass() -> None:
    """A local part that reads like a placeholder is not expanded a second time."""
    hostile = Address(local_part="%EMAILDOMAIN%", domain="alias.org")
    assert logins.login(ALIASED, Username.EMAILADDRESS, hostile) == "%EMAILDOMAIN%@example.org"
    assert logins.expand("%EMAILADDRESS%|%EMAILDOMAIN%", hostile) == (
        "%EMAILDOMAIN%@alias.org|alias.org"
    )


def _server(protocol: Protocol, port: int, username: Username) -> Server:
    return Server(
        protocol=protocol,
        host="mail.example.org",
        port=port,
        security=Security.TLS,
        authentication=Authentication.PASSWORD_CLEARTEXT,
        username=username,
    )


def _served(provider: Provider, username: Username) -> Provider:
    return Provider(
        domain=provider.domain,
        display_name=provider.display_name,
        aliases=provider.aliases,
        alias_login=provider.alias_login,
        servers={
            Protocol.IMAP: (_server(Protocol.IMAP, 993, username),),
            Protocol.SMTP: (_server(Protocol.SMTP, 465, username),),
        },
        incoming_order=(Protocol.IMAP,),
    )


LOCAL_PARTS = st.text(
    alphabet=st.sampled_from("abcXYZ09.+-_%&<>'!#$*/=?^`{|}~"), min_size=1, max_size=20
).filter(lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s)


@given(
    local=LOCAL_PARTS,
    provider=st.sampled_from([PLAIN, ALIASED, MAPPED]),
    username=st.sampled_from(list(Username)),
    at_alias=st.booleans(),
)
def test_every_renderer_uses_the_rule(
    local: str, provider: Provider, username: Username, at_alias: bool
) -> None:
    """For any local part (markup and placeholder look-alikes included), POX LoginName and
    the Apple profile say :func:`logins.login`; the Thunderbird document carries the
    template itself."""
    served = _served(provider, username)
    domain = "alias.org" if at_alias and provider.aliases else "example.org"
    address = Address(local_part=local, domain=domain)
    want = logins.login(served, username, address)
    pox = parse(autodiscover.render(ENV, Schema.OUTLOOK, served, address))
    assert texts(pox, "Account/Protocol/LoginName") == [want, want]
    profile = plistlib.loads(mobileconfig.render(served, address, mobileconfig.ProfileOptions()))
    (mail,) = profile["PayloadContent"]
    assert mail["IncomingMailServerUsername"] == mail["OutgoingMailServerUsername"] == want
    document = thunderbird.render(ENV, served).decode()
    assert f"<username>{logins.template(served, username)}</username>" in document

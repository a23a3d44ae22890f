"""The login name every format gives an address: one rule, one expansion (pure module).

The Thunderbird document carries the login as a template with placeholders (it holds no
address); POX ``LoginName``, the Apple profile's ``*Username`` keys and ``mail-autoconf
check`` expand that same template for one address. So the formats cannot disagree on
what the mail server sees, including for an address at an alias domain:

- ``username = "%EMAILLOCALPART%"``: ``alice`` whatever the domain.
- ``username = "%EMAILADDRESS%"`` and ``alias_login = "address"``: the address as given,
  ``alice@alias`` for an alias address.
- ``username = "%EMAILADDRESS%"`` and ``alias_login = "primary"`` (the default) on a
  domain with aliases: ``%EMAILLOCALPART%@<primary>``, so ``alice@alias`` logs in as
  ``alice@primary``, as Outlook does after POX's ``redirectAddr`` ([MS-OXDSCLI] 3.2.5).

Clients replace placeholders inside a longer value: comm-central's
AccountConfig.sys.mjs (``_replaceVariable``), Thunderbird for Android's
RealAutoconfigParser.kt (``replaceVariables``) and Delta Chat's auto_mozilla.rs
(``fill_placeholders``) all substitute substrings; draft-ietf-mailmaint-autoconfig
section "Placeholders" defines the three names.
"""

from __future__ import annotations

import re

from autoconf.address import Address
from autoconf.model import AliasLogin
from autoconf.model import Provider
from autoconf.model import Username

#: The placeholders of draft-ietf-mailmaint-autoconfig section "Placeholders".
EMAILADDRESS = "%EMAILADDRESS%"
EMAILLOCALPART = "%EMAILLOCALPART%"
EMAILDOMAIN = "%EMAILDOMAIN%"
PLACEHOLDER = re.compile("%(EMAILADDRESS|EMAILLOCALPART|EMAILDOMAIN)%")


def template(provider: Provider, username: Username) -> str:
    """The login for every address ``provider`` serves, as a placeholder template."""
    if username is Username.EMAILLOCALPART:
        return EMAILLOCALPART
    if provider.aliases and provider.alias_login is AliasLogin.PRIMARY:
        # The primary is an A-label (validated configuration): nothing to escape here,
        # and the renderers escape anyway.
        return f"{EMAILLOCALPART}@{provider.domain}"
    return EMAILADDRESS


def expand(text: str, address: Address) -> str:
    """``text`` with its placeholders replaced for ``address``, in one pass: a local part
    may itself read ``%EMAILLOCALPART%`` and must not be expanded again."""
    values = {
        EMAILADDRESS: str(address),
        EMAILLOCALPART: address.local_part,
        EMAILDOMAIN: address.domain,
    }
    return PLACEHOLDER.sub(lambda match: values[match[0]], text)


def login(provider: Provider, username: Username, address: Address) -> str:
    """What the mail server sees from ``address`` (which may be at an alias domain)."""
    return expand(template(provider, username), address)

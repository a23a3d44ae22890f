"""Thunderbird autoconfig (config-v1.1.xml), as desktop and Android Thunderbird parse it.

Format: Mozilla wiki "Thunderbird:Autoconfiguration:ConfigFileFormat" and
draft-ietf-mailmaint-autoconfig. The document carries placeholders (``%EMAILADDRESS%``)
instead of the user's address, so it holds no user input and one rendering serves every
address of the domain.
"""

from __future__ import annotations

import jinja2

from autoconf import logins
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import Security
from autoconf.model import Username

TEMPLATE = "config-v1.1.xml"

#: ``socketType`` values are compared case-sensitively by Thunderbird (readFromXML).
SOCKET_TYPE = {Security.TLS: "SSL", Security.STARTTLS: "STARTTLS", Security.PLAIN: "plain"}


def render(env: jinja2.Environment, provider: Provider) -> bytes:
    """The config-v1.1 document for ``provider``.

    ``<username>`` is :func:`autoconf.logins.template`: the same login POX and the Apple
    profile give, with placeholders, for the primary domain and every alias alike.
    """
    text = env.get_template(TEMPLATE).render(
        provider=provider,
        logins={username: logins.template(provider, username) for username in Username},
        socket_type=SOCKET_TYPE,
        address_books=provider.of(Protocol.CARDDAV),
        calendars=provider.of(Protocol.CALDAV),
    )
    return text.encode("utf-8")

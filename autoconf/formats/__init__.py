"""Renderers, one module per client format: provider (and address) in, bytes out; and the
one identifier of each client format.

:class:`ClientFormat` names a format everywhere: the blueprint that serves it (so the
``format`` label of ``autoconf_requests_total`` and the ``format`` field of the request log
line), the keys of rendered documents, the diagnostics page's documents and the probes of
``mail-autoconf check --url``. Its values are those labels, an interface for dashboards and
log queries: they never change without a CHANGELOG line.
"""

from __future__ import annotations

import enum


class ClientFormat(enum.StrEnum):
    """A client format: one way clients ask for settings, at its own URLs."""

    #: Thunderbird autoconfig, ``config-v1.1.xml`` (:mod:`.thunderbird`).
    THUNDERBIRD = "thunderbird"
    #: Outlook POX Autodiscover ([MS-OXDSCLI] 2006a) and ActiveSync Autodiscover ([MS-ASCMD]
    #: mobilesync): one endpoint, the schema named in the request (:mod:`.autodiscover`).
    AUTODISCOVER = "autodiscover"
    #: Autodiscover v2, JSON (:mod:`.autodiscover_json`).
    AUTODISCOVER_JSON = "autodiscover_json"
    #: Apple configuration profiles (:mod:`.mobileconfig`).
    MOBILECONFIG = "mobileconfig"
    #: CalDAV/CardDAV ``/.well-known/`` redirects (RFC 6764 section 5).
    DAV = "dav"

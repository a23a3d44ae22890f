"""The one parser for untrusted XML (pure: lxml only, no Flask).

POX request bodies (a client's) and the answers ``mail-autoconf check --url`` fetches (a
deployment's) are read with it; nothing else in the package parses XML.
docs/security-model.md, "Input handling", states the rules; OWASP's XML External Entity
Prevention Cheat Sheet ("lxml") is where they come from.
"""

from __future__ import annotations

import threading

from lxml import etree

from autoconf.errors import BadRequestError

_parsers = threading.local()


def _parser() -> etree.XMLParser:
    """This thread's hardened parser: lxml parsers are not thread-safe, but one per thread
    can be reused, which saves building one per request."""
    parser: etree.XMLParser | None = getattr(_parsers, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        _parsers.parser = parser
    return parser


def parse_xml(body: bytes) -> etree._Element:
    """Parse an untrusted XML body or raise :class:`BadRequestError`.

    No DTD loading, no entity resolution, no network, libxml2's depth and size limits on
    (``huge_tree=False``). A DOCTYPE is refused even though it would be inert: with
    entities left unresolved ``u@&d;`` silently reads ``u@``.
    """
    try:
        root = etree.fromstring(body, _parser())
    except etree.LxmlError as exc:
        raise BadRequestError(f"malformed XML: {type(exc).__name__}") from None
    docinfo = root.getroottree().docinfo
    # libxml2 records every DOCTYPE form (bare, SYSTEM, internal subset) as internalDTD.
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise BadRequestError("DOCTYPE not allowed")
    return root

"""Autodiscover request bodies as real clients send them, and readers for the answers."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

BASE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MOBILESYNC_NS = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
OUTLOOK_REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
MOBILESYNC_REQUEST_NS = (
    "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
)
POX_PATH = "/autodiscover/autodiscover.xml"
XML = "text/xml; charset=utf-8"


def outlook_body(address: str, schema: str = OUTLOOK_NS) -> bytes:
    """Outlook 2007-2016 ([MS-OXDSCLI] 4.1): indented, XML declaration, default namespace.

    ``address`` is inserted as given: pass it XML-escaped when it needs escaping.
    """
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="{OUTLOOK_REQUEST_NS}">
  <Request>
    <EMailAddress>{address}</EMailAddress>
    <AcceptableResponseSchema>{schema}</AcceptableResponseSchema>
  </Request>
</Autodiscover>
""".encode()


def thunderbird_body(address: str) -> bytes:
    """Thunderbird's one-line string template; the address is NOT XML-escaped by it."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<Autodiscover xmlns="{OUTLOOK_REQUEST_NS}"><Request>'
        f"<EMailAddress>{address}</EMailAddress>"
        f"<AcceptableResponseSchema>{OUTLOOK_NS}</AcceptableResponseSchema>"
        "</Request></Autodiscover>"
    ).encode()


def em_client_body(address: str) -> bytes:
    """eM Client (a .NET application): the outlook request in the shape .NET's
    XmlSerializer writes, with xsi/xsd declarations and CRLF line ends. Not a capture of
    eM Client's exact bytes."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\r\n'
        '<Autodiscover xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        f'xmlns="{OUTLOOK_REQUEST_NS}">\r\n'
        f"  <Request>\r\n    <EMailAddress>{address}</EMailAddress>\r\n"
        f"    <AcceptableResponseSchema>{OUTLOOK_NS}</AcceptableResponseSchema>\r\n"
        "  </Request>\r\n</Autodiscover>"
    ).encode()


def activesync_body(address: str) -> bytes:
    """An ActiveSync client ([MS-ASCMD] 4.2.1): the mobilesync request namespace."""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="{MOBILESYNC_REQUEST_NS}">
  <Request>
    <EMailAddress>{address}</EMailAddress>
    <AcceptableResponseSchema>{MOBILESYNC_NS}</AcceptableResponseSchema>
  </Request>
</Autodiscover>
""".encode()


def parse(body: bytes) -> etree._Element:
    """Parse an answer strictly (any answer must be well-formed XML)."""
    return etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))


def texts(root: etree._Element, path: str, ns: str = OUTLOOK_NS) -> list[str]:
    """Texts of every element at ``path`` (``/``-separated local names in namespace ``ns``)."""
    xpath = "//" + "/".join(f"n:{step}" for step in path.split("/"))
    return [e.text or "" for e in root.xpath(xpath, namespaces={"n": ns})]


@dataclass(frozen=True, kw_only=True)
class PoxError:
    """The parts of an Autodiscover Error document a client reads."""

    code: int
    message: str


def error_of(body: bytes) -> PoxError:
    """Read ``Autodiscover/Response/Error`` (2006 base namespace) from an answer."""
    root = parse(body)
    ns = {"b": BASE_NS}
    error = root.find("b:Response/b:Error", ns)
    assert error is not None, body
    return PoxError(
        code=int(error.findtext("b:ErrorCode", namespaces=ns) or "0"),
        message=error.findtext("b:Message", namespaces=ns) or "",
    )

"""``mail-autoconf check --url``: fetch a live deployment and compare it with DNS.

Any service answering the client formats can be checked, not only this one. Each probe
sends the request a real client sends, reads the answer with that client's rules
(:mod:`autoconf.diagnostics.clientread`) and compares what the client would configure with what the
domain's SRV records say (the derived :class:`~autoconf.model.Provider`).

Fetching uses the standard library only (``urllib``): a handful of sequential requests need
neither connection pooling nor async, and no new dependency is worth that.
"""

from __future__ import annotations

import enum
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from lxml import etree

from autoconf import logins
from autoconf.address import Address
from autoconf.diagnostics.clientread import MAX_BODY
from autoconf.diagnostics.clientread import Answer
from autoconf.diagnostics.clientread import Reading
from autoconf.diagnostics.clientread import Seen
from autoconf.diagnostics.clientread import read_autoconfig
from autoconf.diagnostics.clientread import read_mobilesync
from autoconf.diagnostics.clientread import read_pox_deltachat
from autoconf.diagnostics.clientread import read_pox_thunderbird
from autoconf.diagnostics.clientread import read_v2
from autoconf.formats import ClientFormat
from autoconf.model import Provider
from autoconf.model import Server

POX_PATH = "/autodiscover/autodiscover.xml"
OUTLOOK_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MOBILESYNC_SCHEMA = (
    "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
)
REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/{kind}/requestschema/2006"
#: The key of the ActiveSync probe (same endpoint as POX, the mobilesync schema).
MOBILESYNC = "mobilesync"


class Agreement(enum.StrEnum):
    """The verdict for one probe."""

    AGREE = "agree"
    DISAGREE = "disagree"
    #: The client discards the answer (or there was none): nothing to compare.
    ERROR = "error"


def request_body(kind: str, address: Address, schema: str) -> bytes:
    """[MS-OXDSCLI] 2.2.3 / [MS-ASCMD] 2.2.1.1: the request both clients send."""
    namespace = REQUEST_NS.format(kind=kind)
    # lxml-stubs do not admit None (the default namespace) as an nsmap key.
    nsmap: Any = {None: namespace}
    root = etree.Element(f"{{{namespace}}}Autodiscover", nsmap=nsmap)
    request = etree.SubElement(root, f"{{{namespace}}}Request")
    etree.SubElement(request, f"{{{namespace}}}EMailAddress").text = str(address)
    etree.SubElement(request, f"{{{namespace}}}AcceptableResponseSchema").text = schema
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One HTTP request a client sends."""

    method: str
    path: str
    body: bytes = b""
    content_type: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe:
    """One client format at one URL, read the way one client reads it."""

    key: str
    #: The format this probe checks (``--only`` takes a format or a probe key).
    format: ClientFormat
    title: str
    request: Callable[[Address], Request]
    read: Callable[[Answer, Address], Reading]


@dataclass(frozen=True, slots=True, kw_only=True)
class Difference:
    """One value on which the live answer and DNS disagree."""

    what: str
    dns: str
    served: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """The verdict for one probe."""

    probe: Probe
    url: str
    method: str
    http_status: int
    status: Agreement
    differences: tuple[Difference, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON form of one row."""
        return {
            "key": self.probe.key,
            "format": self.probe.format.value,
            "title": self.probe.title,
            "method": self.method,
            "url": self.url,
            "http_status": self.http_status,
            "status": self.status.value,
            "differences": [
                {"what": d.what, "dns": d.dns, "served": d.served} for d in self.differences
            ],
            "notes": list(self.notes),
            "error": self.error or None,
        }


def _autoconfig(path: str) -> Callable[[Address], Request]:
    # Thunderbird desktop sends the address on every autoconfig URL (FetchConfig.sys.mjs).
    def build(address: Address) -> Request:
        query = urllib.parse.urlencode({"emailaddress": str(address)})
        return Request(method="GET", path=f"{path}?{query}")

    return build


def _pox(kind: str, schema: str) -> Callable[[Address], Request]:
    def build(address: Address) -> Request:
        return Request(
            method="POST",
            path=POX_PATH,
            body=request_body(kind, address, schema),
            content_type="text/xml; charset=utf-8",
        )

    return build


def _v2(address: Address) -> Request:
    query = urllib.parse.urlencode({"Email": str(address), "Protocol": "AutodiscoverV1"})
    return Request(method="GET", path=f"/autodiscover/autodiscover.json?{query}")


PROBES: tuple[Probe, ...] = (
    Probe(
        key="thunderbird",
        format=ClientFormat.THUNDERBIRD,
        title="Thunderbird autoconfig",
        request=_autoconfig("/mail/config-v1.1.xml"),
        read=read_autoconfig,
    ),
    Probe(
        key="thunderbird-well-known",
        format=ClientFormat.THUNDERBIRD,
        title="Thunderbird autoconfig (.well-known)",
        request=_autoconfig("/.well-known/autoconfig/mail/config-v1.1.xml"),
        read=read_autoconfig,
    ),
    Probe(
        key="pox",
        format=ClientFormat.AUTODISCOVER,
        title="POX 2006a as Thunderbird reads it",
        request=_pox("outlook", OUTLOOK_SCHEMA),
        read=read_pox_thunderbird,
    ),
    Probe(
        key="pox-get",
        format=ClientFormat.AUTODISCOVER,
        title="POX GET as Delta Chat reads it",
        request=lambda _address: Request(method="GET", path=POX_PATH),
        read=lambda answer, _address: read_pox_deltachat(answer),
    ),
    Probe(
        key=MOBILESYNC,
        format=ClientFormat.AUTODISCOVER,
        title="ActiveSync (mobilesync)",
        request=_pox("mobilesync", MOBILESYNC_SCHEMA),
        read=lambda answer, _address: read_mobilesync(answer),
    ),
    Probe(
        key="v2",
        format=ClientFormat.AUTODISCOVER_JSON,
        title="Autodiscover v2 JSON",
        request=_v2,
        read=lambda answer, _address: read_v2(answer),
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fetcher:
    """Sends one request; never raises for network or HTTP conditions."""

    timeout: float = 10.0
    cafile: str | None = None
    #: Host header to send instead of the URL's host (a deployment reached by address,
    #: before DNS points at it); TLS still checks the certificate for the URL's host.
    host: str = ""

    def __call__(self, url: str, request: Request) -> Answer:
        headers = {"Content-Type": request.content_type} if request.content_type else {}
        if self.host:
            headers["Host"] = self.host
        outgoing = urllib.request.Request(
            url, data=request.body or None, method=request.method, headers=headers
        )
        context = ssl.create_default_context(cafile=self.cafile)
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
        try:
            with opener.open(outgoing, timeout=self.timeout) as response:
                return _answer(url, response.status, response.headers, response)
        except urllib.error.HTTPError as error:
            with error:
                return _answer(url, error.code, error.headers, error)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            return Answer(url=url, error=f"no answer: {reason}")


def _answer(url: str, status: int, headers: Any, stream: Any) -> Answer:
    body = stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return Answer(url=url, status=status, error=f"answer larger than {MAX_BODY} bytes")
    return Answer(url=url, status=status, content_type=headers.get("Content-Type", ""), body=body)


def check_live(
    base_url: str,
    provider: Provider,
    address: Address,
    fetch: Callable[[str, Request], Answer],
    *,
    only: Iterable[str] = (),
) -> tuple[Outcome, ...]:
    """Run every probe (or those whose key or format is in ``only``) against ``base_url``."""
    wanted = set(only)
    probes = [p for p in PROBES if not wanted or {p.key, p.format} & wanted]
    return tuple(_run(p, base_url.rstrip("/"), provider, address, fetch) for p in probes)


def _run(
    probe: Probe,
    base: str,
    provider: Provider,
    address: Address,
    fetch: Callable[[str, Request], Answer],
) -> Outcome:
    request = probe.request(address)
    url = base + request.path
    answer = fetch(url, request)
    reading = probe.read(answer, address)
    status, differences = compare(probe, reading, provider, address)
    return Outcome(
        probe=probe,
        url=url,
        method=request.method,
        http_status=answer.status,
        status=status,
        differences=differences,
        notes=reading.notes,
        error=reading.error,
    )


def compare(
    probe: Probe, reading: Reading, provider: Provider, address: Address
) -> tuple[Agreement, tuple[Difference, ...]]:
    """Agreement of one reading with the settings DNS gives."""
    if not provider.usable:
        # Every endpoint must then say "nothing here" (404), never hand out settings.
        if reading.error:
            return Agreement.AGREE, ()
        return Agreement.DISAGREE, (
            Difference(what="settings", dns="none (404)", served="settings"),
        )
    if probe.format is ClientFormat.AUTODISCOVER_JSON:
        return _compare_v2(reading)
    if probe.key == MOBILESYNC:
        return _compare_mobilesync(reading, provider)
    if reading.error:
        return Agreement.ERROR, ()
    differences = (
        *_compare_server("incoming", provider, provider.incoming[0], reading.incoming, address),
        *_compare_server("outgoing", provider, provider.outgoing[0], reading.outgoing, address),
    )
    return (Agreement.DISAGREE if differences else Agreement.AGREE), differences


def expected(provider: Provider, server: Server, address: Address) -> Seen:
    """What a client should configure for ``server``: the login every format of this
    service gives ``address`` (:func:`autoconf.logins.login`)."""
    username = logins.login(provider, server.username, address)
    return Seen(
        protocol=server.protocol.value,
        host=server.host,
        port=server.port,
        security=server.security.value,
        username=username,
    )


def _compare_server(
    role: str, provider: Provider, server: Server, seen: tuple[Seen, ...], address: Address
) -> tuple[Difference, ...]:
    """Compare what the client uses: the first valid server of each direction."""
    want = expected(provider, server, address)
    if not seen:
        return (Difference(what=role, dns=_describe(want), served="none"),)
    got = seen[0]
    pairs = [
        ("protocol", want.protocol, got.protocol),
        ("host", want.host, got.host),
        ("port", str(want.port), str(got.port)),
    ]
    # Delta Chat tries implicit TLS, then STARTTLS: either matches, plaintext does not.
    if got.security != "automatic" or want.security == "plain":
        pairs.append(("security", want.security, got.security))
    if got.username:
        pairs.append(("username", want.username, got.username))
    return tuple(
        Difference(what=f"{role} {what}", dns=dns, served=served)
        for what, dns, served in pairs
        if dns != served
    )


def _describe(seen: Seen) -> str:
    return f"{seen.protocol} {seen.host}:{seen.port} {seen.security}"


def _compare_v2(reading: Reading) -> tuple[Agreement, tuple[Difference, ...]]:
    # v2 only points at the POX endpoint (no IMAP/SMTP in v2); it must be https and that path.
    if reading.error:
        return Agreement.ERROR, ()
    parts = urllib.parse.urlsplit(reading.url)
    if parts.scheme == "https" and parts.path.lower() == POX_PATH:
        return Agreement.AGREE, ()
    return Agreement.DISAGREE, (
        Difference(what="Url", dns=f"https://…{POX_PATH}", served=reading.url),
    )


def _compare_mobilesync(
    reading: Reading, provider: Provider
) -> tuple[Agreement, tuple[Difference, ...]]:
    # The ActiveSync URL comes from the configuration, not DNS; without one the right
    # answer is error 601 ([MS-ASCMD] 2.2.3.64).
    want = provider.activesync_url
    if reading.error:
        return (Agreement.ERROR if want else Agreement.AGREE), ()
    if reading.url == (want or None):
        return Agreement.AGREE, ()
    served = Difference(what="Url", dns=want or "none (error 601)", served=reading.url)
    return Agreement.DISAGREE, (served,)


def format_outcomes(outcomes: Iterable[Outcome]) -> str:
    """The table printed by ``check --url``: one line per probe, details indented."""
    lines = [f"{'status':<9} {'format':<38} {'HTTP':<5} URL"]
    for o in outcomes:
        lines.append(f"{o.status.value:<9} {o.probe.title:<38} {o.http_status or '-':<5} {o.url}")
        if o.error:
            lines.append(f"          client discards the answer: {o.error}")
        for d in o.differences:
            lines.append(f"          {d.what}: DNS says {d.dns!r}, served {d.served!r}")
        lines += [f"          note: {n}" for n in o.notes]
    return "\n".join(lines)

"""The exact document each client gets, produced by the format's own renderer.

The diagnostics page shows these side by side. Nothing here re-implements a renderer: each
entry of :data:`DOCUMENTS` calls the renderer module of its format (provider in, bytes out).
A format whose renderer is not in this build has ``render=None`` and is shown as "not
available in this build"; wiring one in is one ``render=`` argument.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jinja2

from autoconf.address import Address
from autoconf.config import Settings
from autoconf.errors import RequestError
from autoconf.formats import ClientFormat
from autoconf.formats import autodiscover
from autoconf.formats import autodiscover_json
from autoconf.formats import mobileconfig
from autoconf.formats import thunderbird
from autoconf.formats.autodiscover import Schema
from autoconf.formats.autodiscover_json import V2Protocol
from autoconf.model import Provider


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    """What a renderer may need; each format takes what it uses."""

    templates: jinja2.Environment
    settings: Settings
    provider: Provider
    #: The address typed in, or a stand-in at the domain when only a domain was given.
    address: Address


Render = Callable[[Inputs], bytes]
RenderError = Callable[[Inputs, RequestError], bytes]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientDocument:
    """One document a client gets: its format, who reads it, where it is served, how it is
    rendered (a format may answer several: POX 2006a and mobilesync)."""

    #: Names the document on the page (``id="doc-<key>"``).
    key: str
    format: ClientFormat
    title: str
    readers: str
    request: str
    render: Render | None = None
    #: The document a client gets instead when ``render`` refuses (an Error document).
    render_error: RenderError | None = None
    #: How the served bytes can differ from what is shown.
    remark: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Shown:
    """One rendered document, or why there is none."""

    document: ClientDocument
    body: str = ""
    #: What happens instead of a settings answer ("" when ``body`` is one).
    note: str = ""


def _thunderbird(inputs: Inputs) -> bytes:
    return thunderbird.render(inputs.templates, inputs.provider)


def _pox(inputs: Inputs) -> bytes:
    return autodiscover.render(inputs.templates, Schema.OUTLOOK, inputs.provider, inputs.address)


def _mobilesync(inputs: Inputs) -> bytes:
    schema = Schema.MOBILESYNC
    return autodiscover.render(inputs.templates, schema, inputs.provider, inputs.address)


def _pox_error(inputs: Inputs, error: RequestError) -> bytes:
    return autodiscover.render_error(inputs.templates, error)


def _profile(inputs: Inputs) -> bytes:
    settings = inputs.settings.mobileconfig
    options = mobileconfig.ProfileOptions(
        organization=settings.organization, identifier_prefix=settings.identifier_prefix
    )
    return mobileconfig.render(inputs.provider, inputs.address, options)


def _v2(inputs: Inputs) -> bytes:
    return autodiscover_json.render(V2Protocol.AUTODISCOVER_V1, inputs.provider)


DOCUMENTS: tuple[ClientDocument, ...] = (
    ClientDocument(
        key="thunderbird",
        format=ClientFormat.THUNDERBIRD,
        title="Thunderbird autoconfig",
        readers="Thunderbird, Thunderbird for Android, K-9, Delta Chat",
        request="GET /mail/config-v1.1.xml",
        render=_thunderbird,
    ),
    ClientDocument(
        key="pox",
        format=ClientFormat.AUTODISCOVER,
        title="Outlook POX Autodiscover (2006a)",
        readers="Outlook, Thunderbird, Delta Chat, eM Client",
        request="POST /autodiscover/autodiscover.xml",
        render=_pox,
        render_error=_pox_error,
    ),
    ClientDocument(
        key="mobilesync",
        format=ClientFormat.AUTODISCOVER,
        title="ActiveSync Autodiscover (mobilesync)",
        readers="ActiveSync clients, new Outlook, mobile mail apps",
        request="POST /autodiscover/autodiscover.xml (mobilesync schema)",
        render=_mobilesync,
        render_error=_pox_error,
    ),
    ClientDocument(
        key="v2",
        format=ClientFormat.AUTODISCOVER_JSON,
        title="Autodiscover v2 (JSON)",
        readers="Outlook 2016 and later",
        request="GET /autodiscover/autodiscover.json?Protocol=AutodiscoverV1",
        render=_v2,
        render_error=lambda _inputs, error: autodiscover_json.render_error(error),
    ),
    ClientDocument(
        key="profile",
        format=ClientFormat.MOBILECONFIG,
        title="Apple configuration profile",
        readers="Apple Mail, iOS, macOS",
        request="GET /mobileconfig?emailaddress=…",
        render=_profile,
        remark="Shown unsigned; with [mobileconfig] sign_cert the download is this property "
        "list wrapped in CMS SignedData (DER).",
    ),
)

NOT_AVAILABLE = "not available in this build"


def show(document: ClientDocument, inputs: Inputs) -> Shown:
    """Render one document; a refusal the client would get is shown as such."""
    if document.render is None:
        return Shown(document=document, note=NOT_AVAILABLE)
    try:
        body = document.render(inputs)
    except RequestError as exc:
        refusal = document.render_error(inputs, exc) if document.render_error else b""
        pox = document.format is ClientFormat.AUTODISCOVER
        code = f", Autodiscover error {autodiscover.error_code(exc)}" if pox else ""
        note = f"HTTP {exc.error_status_hint}{code}: {exc.public_message}"
        text = refusal.decode("utf-8", errors="replace")
        return Shown(document=document, body=text, note=note)
    return Shown(document=document, body=body.decode("utf-8", errors="replace"))


#: Every endpoint answers 404 when DNS offers no usable incoming and outgoing server.
NO_SETTINGS = "HTTP 404: no usable incoming and outgoing server, so no document"


def show_all(inputs: Inputs) -> tuple[Shown, ...]:
    """Every document, in the order of :data:`DOCUMENTS`."""
    if not inputs.provider.usable:
        return tuple(
            Shown(document=d, note=NO_SETTINGS if d.render else NOT_AVAILABLE) for d in DOCUMENTS
        )
    return tuple(show(d, inputs) for d in DOCUMENTS)

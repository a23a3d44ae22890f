"""The exact document each client gets, produced by the format's own renderer.

The diagnostics page shows these side by side. Nothing here re-implements a renderer: each
entry of :data:`FORMATS` calls the renderer module of its format (provider in, bytes out).
A format whose renderer is not in this build has ``render=None`` and is shown as "not
available in this build"; wiring one in is one ``render=`` argument.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jinja2

from autoconf.address import Address
from autoconf.config import Settings
from autoconf.errors import AutoconfError
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
RenderError = Callable[[Inputs, AutoconfError], bytes]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientFormat:
    """One client format: who reads it, where it is served, how it is rendered."""

    key: str
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

    format: ClientFormat
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


def _pox_error(inputs: Inputs, error: AutoconfError) -> bytes:
    return autodiscover.render_error(inputs.templates, error)


def _profile(inputs: Inputs) -> bytes:
    settings = inputs.settings.mobileconfig
    options = mobileconfig.ProfileOptions(
        organization=settings.organization, identifier_prefix=settings.identifier_prefix
    )
    return mobileconfig.render(inputs.provider, inputs.address, options)


def _v2(inputs: Inputs) -> bytes:
    return autodiscover_json.render(V2Protocol.AUTODISCOVER_V1, inputs.provider)


FORMATS: tuple[ClientFormat, ...] = (
    ClientFormat(
        key="thunderbird",
        title="Thunderbird autoconfig",
        readers="Thunderbird, Thunderbird for Android, K-9, Delta Chat",
        request="GET /mail/config-v1.1.xml",
        render=_thunderbird,
    ),
    ClientFormat(
        key="pox",
        title="Outlook POX Autodiscover (2006a)",
        readers="Outlook, Thunderbird, Delta Chat, eM Client",
        request="POST /autodiscover/autodiscover.xml",
        render=_pox,
        render_error=_pox_error,
    ),
    ClientFormat(
        key="mobilesync",
        title="ActiveSync Autodiscover (mobilesync)",
        readers="ActiveSync clients, new Outlook, mobile mail apps",
        request="POST /autodiscover/autodiscover.xml (mobilesync schema)",
        render=_mobilesync,
        render_error=_pox_error,
    ),
    ClientFormat(
        key="v2",
        title="Autodiscover v2 (JSON)",
        readers="Outlook 2016 and later",
        request="GET /autodiscover/autodiscover.json?Protocol=AutodiscoverV1",
        render=_v2,
        render_error=lambda _inputs, error: autodiscover_json.render_error(error),
    ),
    ClientFormat(
        key="profile",
        title="Apple configuration profile",
        readers="Apple Mail, iOS, macOS",
        request="GET /mobileconfig?emailaddress=…",
        render=_profile,
        remark="Shown unsigned; with [mobileconfig] sign_cert the download is this property "
        "list wrapped in CMS SignedData (DER).",
    ),
)

NOT_AVAILABLE = "not available in this build"
#: Formats whose refusals carry an Autodiscover ErrorCode.
POX_FORMATS = frozenset({"pox", "mobilesync"})


def show(fmt: ClientFormat, inputs: Inputs) -> Shown:
    """Render one format; a refusal the client would get is shown as such."""
    if fmt.render is None:
        return Shown(format=fmt, note=NOT_AVAILABLE)
    try:
        body = fmt.render(inputs)
    except AutoconfError as exc:
        refusal = fmt.render_error(inputs, exc) if fmt.render_error else b""
        code = f", Autodiscover error {exc.pox_code}" if fmt.key in POX_FORMATS else ""
        note = f"HTTP {exc.http_status}{code}: {exc.public_message}"
        return Shown(format=fmt, body=refusal.decode("utf-8", errors="replace"), note=note)
    return Shown(format=fmt, body=body.decode("utf-8", errors="replace"))


#: Every endpoint answers 404 when DNS offers no usable incoming and outgoing server.
NO_SETTINGS = "HTTP 404: no usable incoming and outgoing server, so no document"


def show_all(inputs: Inputs) -> tuple[Shown, ...]:
    """Every format, in the order of :data:`FORMATS`."""
    if not inputs.provider.usable:
        return tuple(
            Shown(format=fmt, note=NO_SETTINGS if fmt.render else NOT_AVAILABLE) for fmt in FORMATS
        )
    return tuple(show(fmt, inputs) for fmt in FORMATS)

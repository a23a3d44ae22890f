"""The ``mail-autoconf`` command: ``serve``, ``check``, ``zone``.

``check`` and ``zone`` never build a Flask app: they use the same settings, record source
and derivation as the web views, so what they print is what clients are told.
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from typing import Any

import click

from autoconf.address import Address
from autoconf.address import parse_domain
from autoconf.config import ENV_CONFIG
from autoconf.config import Settings
from autoconf.config import load_settings
from autoconf.diagnostics.livecheck import Agreement
from autoconf.diagnostics.livecheck import Fetcher
from autoconf.diagnostics.livecheck import Outcome
from autoconf.diagnostics.livecheck import check_live
from autoconf.diagnostics.livecheck import format_outcomes
from autoconf.diagnostics.probe import ProbeOptions
from autoconf.diagnostics.probe import format_probes
from autoconf.diagnostics.probe import probe_servers
from autoconf.diagnostics.probe import probes_as_list
from autoconf.diagnostics.report import Report
from autoconf.diagnostics.report import build_report
from autoconf.diagnostics.report import format_report
from autoconf.diagnostics.report import parse_target
from autoconf.discovery import SERVICES
from autoconf.errors import ConfigError
from autoconf.errors import InvalidAddressError
from autoconf.model import RecordSource
from autoconf.names import is_context_path
from autoconf.server import BIND
from autoconf.server import THREADS
from autoconf.server import WORKERS
from autoconf.service import Discoverer

#: The distribution (PyPI) and command name; the import package is ``autoconf``.
DISTRIBUTION = "mail-autoconf"

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar=ENV_CONFIG,
    help="TOML configuration file (default: $AUTOCONF_CONFIG, else the bundled example).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name=DISTRIBUTION)
def main() -> None:
    """Mail-client auto-configuration derived from the domain's DNS SRV records."""


def _load(config_path: str | None) -> Settings:
    try:
        return load_settings(config_path)
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc.detail}") from None


def _source(settings: Settings) -> RecordSource:
    """The record source; a broken zone file is one line naming the file and line."""
    from autoconf.sources import make_source

    try:
        return make_source(settings.dns)
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc.detail}") from None


@main.command()
@click.option(
    "--bind",
    "-b",
    help=f"Address to listen on (HOST:PORT or unix:PATH)  [default: ${BIND.name}, else "
    f"{BIND.default}]",
)
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(WORKERS.low, WORKERS.high),
    help=f"Worker processes  [default: ${WORKERS.name}, else {WORKERS.default}]",
)
@click.option(
    "--threads",
    type=click.IntRange(THREADS.low, THREADS.high),
    help=f"Threads per worker  [default: ${THREADS.name}, else {THREADS.default}]",
)
@config_option
def serve(
    bind: str | None, workers: int | None, threads: int | None, config_path: str | None
) -> None:
    """Run the service under gunicorn with the shipped settings (never a development
    server): exactly `gunicorn -c python:autoconf.gunicorn_conf autoconf.wsgi:app`, the
    options passed as the environment variables it reads."""
    import os

    from autoconf.server import run

    # Fail here, with the key (or zone file and line) named, not inside every worker.
    _source(_load(config_path))
    if config_path:
        os.environ[ENV_CONFIG] = os.path.abspath(config_path)
    run(bind=bind, workers=workers, threads=threads)


def _base_url(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise click.BadParameter("must be an http(s)://host[:port] base URL without a query")
    return value


@main.command()
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--url",
    callback=_base_url,
    help="Also fetch the live endpoints under this base URL (e.g. "
    "https://autoconfig.example.org) and compare them with DNS.",
)
@click.option(
    "--probe",
    is_flag=True,
    help="Also connect to every server clients are told about: TLS as advertised, the "
    "certificate (chain, name, expiry), greeting, capabilities and mechanisms, DAV. "
    "Never sends a credential.",
)
@click.option(
    "--cafile",
    type=click.Path(dir_okay=False, exists=True),
    help="CA bundle (PEM) to verify against instead of the system store.",
)
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1, 120),
    help="Seconds per HTTP request (--url) or per probed server (--probe).",
)
@click.option(
    "--host-header",
    default="",
    help="With --url: send this Host header (a deployment reached by IP address).",
)
@click.option(
    "--only",
    multiple=True,
    help="With --url: check only these formats (thunderbird, autodiscover, "
    "autodiscover_json) or probes (thunderbird, thunderbird-well-known, pox, pox-get, "
    "mobilesync, v2); repeatable.",
)
@config_option
def check(
    target: str,
    as_json: bool,
    url: str | None,
    probe: bool,
    cafile: str | None,
    timeout: float,
    host_header: str,
    only: tuple[str, ...],
    config_path: str | None,
) -> None:
    """Show what clients are told for ADDRESS or DOMAIN, every record seen, what was
    dropped and why, and lint findings. Exit status 1 when something is wrong.

    With --url, fetch the deployment's live answers, read them as the clients do and
    compare them with DNS: exit status 0 when every format agrees, 1 otherwise.

    With --probe, connect to each server the answers name and check it is what they
    advertise: exit status 0 when no finding is an error, 1 otherwise.
    """
    if probe and url is not None:
        raise click.UsageError("--probe and --url are separate checks: run them one at a time")
    settings = _load(config_path)
    try:
        address, domain = parse_target(target)
    except InvalidAddressError as exc:
        raise click.BadParameter(exc.detail, param_hint="TARGET") from None
    from autoconf.sources import dnssec_warning

    source = _source(settings)
    warning = dnssec_warning(settings.dns, source)
    if warning:  # on stderr, so --json output stays one JSON document
        click.echo(f"warning: {warning}", err=True)
    report = build_report(Discoverer(settings, source), domain)
    if probe:
        _probe(report, settings, ProbeOptions(timeout=timeout, cafile=cafile), as_json)
    if url is None:
        _emit(report.as_dict() if as_json else format_report(report))
        sys.exit(0 if report.ok else 1)
    address = address or Address(local_part=SAMPLE_LOCAL_PART, domain=domain)
    outcomes = _live(
        report, url, address, Fetcher(timeout=timeout, cafile=cafile, host=host_header), only
    )
    ok = report.provider is not None and all(o.status is Agreement.AGREE for o in outcomes)
    if as_json:
        live = {"domain": domain, "address": str(address), "url": url, "ok": ok}
        _emit({**live, "live": [o.as_dict() for o in outcomes], "dns": report.as_dict()})
    else:
        _emit(_live_text(report, url, address, outcomes, ok))
    sys.exit(0 if ok else 1)


def _live(
    report: Report, url: str, address: Address, fetch: Fetcher, only: tuple[str, ...]
) -> tuple[Outcome, ...]:
    if report.provider is None:  # DNS failed: nothing to compare with
        return ()
    return check_live(url, report.provider, address, fetch, only=only)


def _probe(report: Report, settings: Settings, options: ProbeOptions, as_json: bool) -> None:
    """``check --probe``: probe every server of the report; exits."""
    from autoconf.sources import make_address_source

    servers = report.servers
    probes = probe_servers(servers, make_address_source(settings.dns), options)
    ok = bool(servers) and all(p.ok for p in probes)
    if as_json:
        result = {"domain": report.domain, "ok": ok, "probes": probes_as_list(probes)}
        _emit({**result, "dns": report.as_dict()})
    else:
        lines = [report.verdict]
        if report.error:
            lines.append(f"DNS error: {report.error}: nothing to probe")
        elif not servers:
            lines.append("No servers to probe.")
        else:
            store = options.cafile or "the system store"
            lines += [f"\nEvery server clients are told about (CA: {store}):", ""]
            lines.append(format_probes(probes))
        errors = sum(f.severity == "error" for p in probes for f in p.findings)
        lines.append("ALL SERVERS OK" if ok else f"PROBLEMS FOUND ({errors} errors)")
        _emit("\n".join(lines))
    sys.exit(0 if ok else 1)


#: Local part used when only a domain is given (documents that carry the address).
SAMPLE_LOCAL_PART = "autoconf-check"


def _emit(output: str | dict[str, Any]) -> None:
    click.echo(output if isinstance(output, str) else json.dumps(output, indent=2))


def _live_text(
    report: Report, url: str, address: Address, outcomes: tuple[Outcome, ...], ok: bool
) -> str:
    lines = [report.verdict]
    if report.error:
        lines.append(f"DNS error: {report.error}: nothing to compare with")
    else:
        lines += [f"\nLive answers under {url} for {address}, read as the clients do:", ""]
        lines.append(format_outcomes(outcomes))
    lines.append("\nALL FORMATS AGREE WITH DNS" if ok else "\nDISAGREEMENTS FOUND")
    return "\n".join(lines)


@main.command()
@click.argument("domain")
@click.option("--mail-host", help="Host running IMAP/SMTP (default: mail.DOMAIN).")
@click.option("--service-host", help="Host running autoconf (default: the mail host).")
@click.option("--dav-host", help="Host running CalDAV/CardDAV (omit: no DAV records).")
@click.option(
    "--dav-path",
    default="/dav/",
    show_default=True,
    help="Context path published in the TXT records (RFC 6764 section 4).",
)
@click.option(
    "--pop3/--no-pop3",
    default=False,
    show_default=True,
    help="Offer POP3 (else it is published as not offered).",
)
@click.option("--ttl", default=3600, show_default=True, type=click.IntRange(60, 86400))
def zone(
    domain: str,
    mail_host: str | None,
    service_host: str | None,
    dav_host: str | None,
    dav_path: str,
    pop3: bool,
    ttl: int,
) -> None:
    """Print the BIND-format records DOMAIN should publish."""
    try:
        name = parse_domain(domain)
        mail = parse_domain(mail_host) if mail_host else f"mail.{name}"
        web = parse_domain(service_host) if service_host else mail
        dav = parse_domain(dav_host) if dav_host else ""
    except InvalidAddressError as exc:
        raise click.BadParameter(exc.detail) from None
    if not is_context_path(dav_path):
        raise click.BadParameter(
            "must be an absolute URL path such as /dav/", param_hint="--dav-path"
        )
    click.echo(zone_text(name, mail=mail, web=web, dav=dav, dav_path=dav_path, pop3=pop3, ttl=ttl))


def zone_text(
    domain: str, *, mail: str, web: str, dav: str, dav_path: str, pop3: bool, ttl: int
) -> str:
    """BIND zone text with the discovery records for ``domain``."""
    offered = {
        "_submissions": (0, 1, 465, mail),
        "_submission": (10, 1, 587, mail),
        "_imaps": (0, 1, 993, mail),
        "_imap": (0, 0, 0, ""),
        "_pop3s": (10, 1, 995, mail) if pop3 else (0, 0, 0, ""),
        "_pop3": (0, 0, 0, ""),
        "_caldavs": (0, 1, 443, dav) if dav else None,
        "_caldav": None,
        "_carddavs": (0, 1, 443, dav) if dav else None,
        "_carddav": None,
    }
    lines = [
        f"; Mail client discovery records for {domain} (RFC 6186, RFC 8314, RFC 6764)",
        f"$ORIGIN {domain}.",
        f"$TTL {ttl}",
    ]
    for service in SERVICES:
        record = offered[service.label]
        if record is None:
            continue
        priority, weight, port, target = record
        note = f"; {service.reference}" + ("; '.' = not offered" if not target else "")
        lines.append(
            f"{service.label}._tcp  SRV  {priority} {weight} {port} "
            f"{target + '.' if target else '.'}  {note}"
        )
        if target and service.label in ("_caldavs", "_carddavs"):
            lines.append(f'{service.label}._tcp  TXT  "path={dav_path}"  ; RFC 6764 §4')
    lines += [
        f"_autodiscover._tcp  SRV  0 0 443 autodiscover.{domain}.  ; Outlook, Thunderbird 142+",
        f"autoconfig  CNAME  {web}.  ; Thunderbird, Delta Chat",
        f"autodiscover  CNAME  {web}.  ; Outlook, eM Client, ActiveSync",
    ]
    return "\n".join(lines)

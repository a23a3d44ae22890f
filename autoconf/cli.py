"""The ``autoconf`` command: ``serve``, ``check``, ``zone``.

``check`` and ``zone`` never build a Flask app: they use the same settings, record source
and derivation as the web views, so what they print is what clients are told.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from autoconf.address import parse_address
from autoconf.address import parse_domain
from autoconf.checks import extra_findings
from autoconf.checks import extra_questions
from autoconf.config import ENV_CONFIG
from autoconf.config import Settings
from autoconf.config import load_settings
from autoconf.discovery import DAV_PROTOCOLS
from autoconf.discovery import SERVICES
from autoconf.discovery import DomainProfile
from autoconf.discovery import is_context_path
from autoconf.errors import AutoconfError
from autoconf.errors import ConfigError
from autoconf.errors import InvalidAddressError
from autoconf.model import Finding
from autoconf.model import Protocol
from autoconf.model import RRset
from autoconf.service import Discoverer

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar=ENV_CONFIG,
    help="TOML configuration file (default: $AUTOCONF_CONFIG, else the bundled example).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="autoconf")
def main() -> None:
    """Mail-client auto-configuration derived from the domain's DNS SRV records."""


def _load(config_path: str | None) -> Settings:
    try:
        return load_settings(config_path)
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc.detail}") from None


@main.command()
@click.option(
    "--bind",
    "-b",
    default="127.0.0.1:8000",
    show_default=True,
    help="Address to listen on (HOST:PORT or unix:PATH).",
)
@click.option("--workers", "-w", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
@config_option
def serve(bind: str, workers: int, threads: int, config_path: str | None) -> None:
    """Run the service under gunicorn (never a development server)."""
    import os

    from autoconf.server import run

    _load(config_path)  # fail here, with the key named, not inside every worker
    if config_path:
        os.environ[ENV_CONFIG] = os.path.abspath(config_path)
    run(bind=bind, workers=workers, threads=threads)


@main.command()
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@config_option
def check(target: str, as_json: bool, config_path: str | None) -> None:
    """Show what clients are told for ADDRESS or DOMAIN, every record seen, what was
    dropped and why, and lint findings. Exit status 1 when something is wrong."""
    settings = _load(config_path)
    try:
        domain = parse_address(target).domain if "@" in target else parse_domain(target)
    except InvalidAddressError as exc:
        raise click.BadParameter(exc.detail, param_hint="TARGET") from None
    report = build_report(settings, domain)
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=False))
    else:
        click.echo(format_report(report))
    sys.exit(0 if report["ok"] else 1)


def build_report(settings: Settings, domain: str) -> dict[str, Any]:
    """Everything ``check`` knows about ``domain``, as JSON-ready data."""
    from autoconf.app import make_source

    discoverer = Discoverer(settings, make_source(settings.dns))
    primary = settings.primary_of(domain)
    report: dict[str, Any] = {
        "domain": domain,
        "served": primary is not None,
        "primary": primary or domain,
        "servers": [],
        "records": [],
        "dropped": [],
        "findings": [],
        "error": None,
    }
    if primary is None:
        report["findings"].append(
            _finding(
                Finding(
                    severity="error",
                    code="not-served",
                    message=f"{domain} is not in [domains]: the service answers 404 "
                    "without asking DNS",
                )
            )
        )
    name = primary or domain
    profile = settings.domains.get(name) or DomainProfile(display_name=name)
    try:
        lookup = discoverer.lookup(name, profile)
    except AutoconfError as exc:
        report["error"] = exc.detail
        report["ok"] = False
        return report
    provider = lookup.provider
    extra = discoverer.source.ask(extra_questions(provider))
    report["servers"] = [
        {
            "protocol": s.protocol.value,
            "host": s.host,
            "port": s.port,
            "security": s.security.value,
            "authentication": s.authentication.value,
            "username": s.username.value,
            "label": s.label,
            "priority": s.priority,
            "weight": s.weight,
            **({"url": s.url} if s.protocol in DAV_PROTOCOLS else {}),
        }
        for s in (
            *provider.incoming,
            *provider.outgoing,
            *provider.of(Protocol.CALDAV),
            *provider.of(Protocol.CARDDAV),
        )
    ]
    report["records"] = [_record(r) for r in (*lookup.answers.values(), *extra.values())]
    report["dropped"] = [
        {
            "label": d.label,
            "target": d.record.target or ".",
            "port": d.record.port,
            "priority": d.record.priority,
            "weight": d.record.weight,
            "reason": d.reason,
        }
        for d in provider.dropped
    ]
    report["findings"].extend(
        _finding(f) for f in (*provider.findings, *extra_findings(provider, extra))
    )
    report["ok"] = report["served"] and not any(
        f["severity"] == "error" for f in report["findings"]
    )
    return report


def _record(rrset: RRset) -> dict[str, Any]:
    data: list[str] = [
        f"{r.priority} {r.weight} {r.port} {r.target + '.' if r.target else '.'}" for r in rrset.srv
    ]
    data += [_txt_presentation(t) for t in rrset.txt] + list(rrset.rdata)
    return {
        "name": rrset.name,
        "type": rrset.rdtype,
        "status": rrset.status.value,
        "ttl": rrset.ttl,
        "authenticated": rrset.authenticated,
        "data": data,
        **({"error": rrset.error} if rrset.error else {}),
    }


def _txt_presentation(text: str) -> str:
    """A TXT string as in a zone file: quotes, backslashes and control characters escaped
    as ``\\DDD``, so hostile record data cannot forge lines of the report."""
    escaped = "".join(
        char if char.isprintable() and char not in '"\\' else f"\\{ord(char):03d}" for char in text
    )
    return f'"{escaped}"'


def _finding(finding: Finding) -> dict[str, str]:
    return {
        "severity": finding.severity,
        "code": finding.code,
        "message": finding.message,
        "reference": finding.reference,
    }


def format_report(report: dict[str, Any]) -> str:
    """The human-readable form of :func:`build_report`."""
    served = "served" if report["served"] else "NOT served"
    alias = f", alias of {report['primary']}" if report["primary"] != report["domain"] else ""
    lines = [f"{report['domain']} ({served}{alias})"]
    if report["error"]:
        lines.append(f"DNS error: {report['error']}")
    lines.append("\nSettings (in the order clients are told):")
    for s in report["servers"]:
        where = s.get("url") or f"{s['host']}:{s['port']}"
        lines.append(
            f"  {s['protocol']:<8} {where:<40} {s['security']:<9} "
            f"from {s['label']} (priority {s['priority']}, weight {s['weight']})"
        )
    if not report["servers"]:
        lines.append("  (none)")
    lines.append("\nRecords seen:")
    for r in report["records"]:
        detail = "; ".join(r["data"]) or r.get("error", "")
        ad = " authenticated" if r["authenticated"] else ""
        lines.append(
            f"  {r['name']:<40} {r['type']:<5} {r['status']:<8} ttl={r['ttl']}{ad} {detail}"
        )
    if report["dropped"]:
        lines.append("\nDropped:")
        for d in report["dropped"]:
            lines.append(
                f"  {d['label']} {d['priority']} {d['weight']} {d['port']} "
                f"{d['target']}: {d['reason']}"
            )
    lines.append("\nFindings:")
    for f in report["findings"]:
        ref = f" [{f['reference']}]" if f["reference"] else ""
        lines.append(f"  {f['severity']:<7} {f['code']}: {f['message']}{ref}")
    if not report["findings"]:
        lines.append("  (none)")
    lines.append("\nOK" if report["ok"] else "\nPROBLEMS FOUND")
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

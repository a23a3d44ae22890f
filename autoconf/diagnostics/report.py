"""What ``mail-autoconf check`` prints and the diagnostics page shows: one report.

``check`` calls :func:`build_report` (DNS asked afresh: what DNS says now); the page calls
:func:`cached_report` (the settings clients get, from this worker's settings cache, with
the answers that load saw). Both assemble the report the same way, so they cannot disagree
about the same answers. Free of Flask and dnspython: the record source comes in through the
:class:`~autoconf.service.Discoverer`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from typing import Any

from autoconf import logins
from autoconf.address import Address
from autoconf.address import parse_address
from autoconf.address import parse_domain
from autoconf.diagnostics.checks import PAGE_TARGET_CHECKS
from autoconf.diagnostics.checks import extra_findings
from autoconf.diagnostics.checks import extra_questions
from autoconf.diagnostics.checks import served_targets
from autoconf.diagnostics.checks import unchecked_finding
from autoconf.discovery import DAV_PROTOCOLS
from autoconf.discovery import DomainProfile
from autoconf.discovery import TrustPolicy
from autoconf.errors import AutoconfError
from autoconf.errors import DnsUnavailableError
from autoconf.hosting import Decision as Serving
from autoconf.hosting import Kind
from autoconf.hosting import admissible
from autoconf.model import Dropped
from autoconf.model import Finding
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import Question
from autoconf.model import RRset
from autoconf.model import Server
from autoconf.model import SrvRecord
from autoconf.service import Discoverer


def parse_target(text: str) -> tuple[Address | None, str]:
    """ADDRESS or DOMAIN as typed -> (the address or None, the normalised domain).

    :raises InvalidAddressError: when it is neither.
    """
    if "@" in text:
        address = parse_address(text)
        return address, address.domain
    return None, parse_domain(text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The trust decision about one SRV record: served or dropped, and why."""

    label: str
    record: SrvRecord
    kept: bool
    reason: str


def _not_served(domain: str, serving: Serving | None = None) -> Finding:
    if serving is None or (serving.kind is Kind.NOT_SERVED and not serving.records):
        message = f"{domain} is not in [domains]: the service answers 404 without asking DNS"
    else:
        message = f"{domain} is not in [domains] and not hosted here: " + "; ".join(serving.reasons)
    return Finding(severity="error", code="not-served", message=message)


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """Everything known about one domain: settings, records, dropped targets, findings."""

    domain: str
    primary: str
    served: bool
    provider: Provider | None = None
    #: Every answer seen: the service's questions first, then the lint-only ones.
    records: tuple[RRset, ...] = ()
    findings: tuple[Finding, ...] = ()
    #: Why no provider could be derived (DNS failure); "" otherwise.
    error: str = ""
    #: With ``error``: seconds until DNS is asked again (the clients' Retry-After).
    retry_after: int = 0
    decisions: tuple[Decision, ...] = ()
    #: False when the settings came from the cache but the answers they were derived from
    #: are no longer kept (``records`` then only holds the lint answers).
    answers_kept: bool = True
    #: Why the domain is served or not (listed, hosted by SRV/MX/CNAME, or not).
    serving: Serving | None = None

    @property
    def servers(self) -> tuple[Server, ...]:
        """Every served server in the order clients are told: incoming, outgoing, DAV."""
        if self.provider is None:
            return ()
        p = self.provider
        return (*p.incoming, *p.outgoing, *p.of(Protocol.CALDAV), *p.of(Protocol.CARDDAV))

    def login(self, server: Server) -> str:
        """The login template clients are given for ``server`` (the alias rule applied)."""
        assert self.provider is not None
        return logins.template(self.provider, server.username)

    @property
    def dropped(self) -> tuple[Dropped, ...]:
        """Records seen but not served, each with its reason."""
        return self.provider.dropped if self.provider else ()

    @property
    def ok(self) -> bool:
        """Served, derived, and no finding of severity "error"."""
        errors = any(f.severity == "error" for f in self.findings)
        return self.served and not self.error and not errors

    @property
    def verdict(self) -> str:
        """One line for the top of the page and of ``check``'s output."""
        if not self.served:
            return f"{self.domain} is not served here: clients get 404."
        if self.error:
            return f"DNS lookup failed for {self.primary}: clients get 503 until it answers."
        assert self.provider is not None
        counts = _counts(self.findings)
        if not self.provider.usable:
            return f"No usable settings for {self.primary}: clients get 404 ({counts})."
        first_in, first_out = self.provider.incoming[0], self.provider.outgoing[0]
        state = "OK" if self.ok else "Problems found"
        return f"{state}: clients are told {_short(first_in)} and {_short(first_out)} ({counts})."

    def public(self) -> Report:
        """This report for strangers (the public page): DNS error texts reduced to a
        generic reason, so no resolver address or server detail is shown."""
        records = tuple(
            replace(r, error=public_reason(r.error)) if r.error else r for r in self.records
        )
        error = public_reason(self.error) if self.error else ""
        return replace(self, records=records, error=error)

    def as_dict(self) -> dict[str, Any]:
        """The ``check --json`` form (a stable, documented shape)."""
        return {
            "domain": self.domain,
            "served": self.served,
            "primary": self.primary,
            "verdict": self.verdict,
            "servers": [server_dict(s, self.login(s)) for s in self.servers],
            "records": [record_dict(r) for r in self.records],
            "dropped": [dropped_dict(d) for d in self.dropped],
            "findings": [finding_dict(f) for f in self.findings],
            "error": self.error or None,
            "ok": self.ok,
            "serving": serving_dict(self.serving) if self.serving else None,
        }


def _short(server: Server) -> str:
    return f"{server.protocol.value.upper()} {server.host}:{server.port} ({server.security.value})"


def _counts(findings: tuple[Finding, ...]) -> str:
    errors = sum(f.severity == "error" for f in findings)
    warnings = sum(f.severity == "warning" for f in findings)
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


def build_report(discoverer: Discoverer, domain: str, *, lint_unserved: bool = True) -> Report:
    """Look ``domain`` up afresh (no cache) and lint it, every target included: what DNS
    says now, for ``mail-autoconf check``.

    An unserved domain is still looked up with a default profile when ``lint_unserved``
    (the CLI: an admin preparing a domain); with False it is only reported as not served,
    so strangers cannot make it query names of their choosing. With ``[hosting]`` on, an
    unlisted domain is decided afresh, and the report says which condition held or failed.
    """
    primary = discoverer.settings.primary_of(domain)
    if primary is None and discoverer.hosting is not None and not admissible(domain):
        return _hosted_report(discoverer, domain, lint_unserved=lint_unserved)
    serving = discoverer.decision(domain)
    base = Report(
        domain=domain, primary=primary or domain, served=primary is not None, serving=serving
    )
    head = () if primary else (_not_served(domain, serving),)
    if primary is None and not lint_unserved:
        return replace(base, findings=head)
    name = primary or domain
    profile = discoverer.settings.domains.get(name) or DomainProfile(display_name=name)
    try:
        lookup = discoverer.lookup(name, profile)
    except AutoconfError as exc:
        return replace(base, findings=head, error=exc.detail)
    extra = discoverer.source.ask(extra_questions(lookup.provider))
    return _assembled(
        replace(base, findings=head),
        lookup.provider,
        lookup.answers,
        extra,
        trust=discoverer.settings.dns.trust,
    )


def cached_report(discoverer: Discoverer, domain: str) -> Report:
    """The report for a served ``domain`` from this worker's settings cache: the settings
    clients get (single-flight, stale-if-error, as for every client endpoint), the answers
    the load saw while they are kept, and lint answers asked at most once per load and for
    at most :data:`~.checks.PAGE_TARGET_CHECKS` targets. A second view of a fresh
    entry asks DNS nothing. For the diagnostics page; error texts are raw (see
    :meth:`Report.public`).

    :raises UnknownDomainError: not served (no DNS query made without ``[hosting]``).
    """
    primary = discoverer.primary(domain)
    serving = discoverer.decision(domain)
    base = Report(domain=domain, primary=primary, served=True, serving=serving)
    try:
        # mail=False: a domain without usable mail servers is diagnosed, not refused.
        provider = discoverer.served(domain, mail=False).provider
    except DnsUnavailableError as exc:
        return replace(base, error=exc.detail, retry_after=exc.retry_after)
    kept = discoverer.kept(primary, provider)
    targets = served_targets(provider)
    checked, unchecked = targets[:PAGE_TARGET_CHECKS], targets[PAGE_TARGET_CHECKS:]
    lint = kept.lint
    if lint is None:
        # Kept for the load, failures included: asking again on every view would let a
        # stranger turn a failing resolver into a steady stream of queries.
        lint = kept.lint = discoverer.source.ask(extra_questions(provider, checked))
    trust = _trust(discoverer, serving)
    if trust is None:
        # Hosted by MX or CNAME: the settings are the provider's, whose records are not
        # this domain's to lint.
        provider = replace(provider, findings=())
    report = _assembled(base, provider, kept.answers or {}, lint, trust=trust)
    if unchecked:
        findings = (*report.findings, unchecked_finding(unchecked, len(checked)))
        report = replace(report, findings=findings)
    return replace(report, answers_kept=kept.answers is not None)


def _trust(discoverer: Discoverer, serving: Serving) -> TrustPolicy | None:
    """The trust policy the served settings' SRV records were judged by: the listed
    domains', the hosting rule's for a domain hosted by its own SRV records, none for one
    hosted by MX or CNAME (it gets the provider's settings)."""
    if serving.kind is Kind.SRV and discoverer.hosting is not None:
        return discoverer.hosting.trust
    if serving.kind is Kind.LISTED:
        return discoverer.settings.dns.trust
    return None


def _assembled(
    base: Report,
    provider: Provider,
    answers: Mapping[Question, RRset],
    extra: Mapping[Question, RRset],
    *,
    trust: TrustPolicy | None,
) -> Report:
    """``base`` (with its leading findings) completed from a provider, the answers it
    was derived from and the lint answers; the trust table when ``trust`` says how the
    provider's SRV records were judged."""
    findings = (*provider.findings, *extra_findings(provider, extra))
    return replace(
        base,
        provider=provider,
        records=(*answers.values(), *extra.values()),
        findings=(*base.findings, *findings),
        decisions=_decisions(trust, provider) if trust else (),
    )


def _hosted_report(discoverer: Discoverer, domain: str, *, lint_unserved: bool) -> Report:
    """An unlisted domain with ``[hosting]`` on: the decision, made afresh, and then what
    its clients get (served) or what its own records would give (``lint_unserved``)."""
    assert discoverer.hosting is not None
    trust = discoverer.hosting.trust
    try:
        explained = discoverer.explain(domain)
    except AutoconfError as exc:  # the provider's own settings could not be looked up
        return Report(domain=domain, primary=domain, served=False, error=exc.detail)
    serving = explained.decision
    base = Report(domain=domain, primary=domain, served=serving.served, serving=serving)
    answers = explained.answers
    if serving.kind is Kind.FAILED:
        return replace(base, records=tuple(answers.values()), error="; ".join(serving.reasons))
    if explained.provider is not None:
        # By SRV the domain's own records are the settings; by MX or CNAME they are the
        # provider's, so the domain's (absent) SRV records are not linted.
        own = serving.kind is Kind.SRV
        provider = explained.provider if own else replace(explained.provider, findings=())
        extra = discoverer.source.ask(extra_questions(provider))
        return _assembled(base, provider, answers, extra, trust=trust if own else None)
    head = (_not_served(domain, serving),)
    if not lint_unserved or explained.derived is None:
        return replace(base, records=tuple(answers.values()), findings=head)
    extra = discoverer.source.ask(extra_questions(explained.derived))
    return _assembled(replace(base, findings=head), explained.derived, answers, extra, trust=trust)


#: The only DNS failure reasons strangers are told (RFC 1035 section 4.1.1 RCODE names and
#: the timeout), in this order; anything else is "no usable answer".
_PUBLIC_REASONS = (
    (re.compile(r"\btime(?:out|d out)\b", re.IGNORECASE), "timeout"),
    (re.compile(r"\bSERVFAIL\b"), "server failure (SERVFAIL)"),
    (re.compile(r"\bREFUSED\b"), "refused (REFUSED)"),
)


def public_reason(error: str) -> str:
    """A DNS error text reduced to generic reasons ("timeout", "server failure
    (SERVFAIL)", "refused (REFUSED)"): the texts of the record source name resolver
    addresses and ports, which the public page must not show (docs/security-model.md)."""
    reasons = [reason for pattern, reason in _PUBLIC_REASONS if pattern.search(error)]
    return ", ".join(reasons) or "no usable answer"


def _decisions(policy: TrustPolicy, provider: Provider) -> tuple[Decision, ...]:
    """Kept records (with the trust rule that admitted them), then dropped ones."""
    kept = (
        Decision(
            label=s.label,
            record=SrvRecord(priority=s.priority, weight=s.weight, port=s.port, target=s.host),
            kept=True,
            reason=policy.acceptance(s.host, provider.domain),
        )
        for servers in provider.servers.values()
        for s in servers
    )
    dropped = (
        Decision(label=d.label, record=d.record, kept=False, reason=d.reason)
        for d in provider.dropped
    )
    return (*kept, *dropped)


def serving_dict(serving: Serving) -> dict[str, Any]:
    """JSON form of the decision whether the domain is served."""
    return {
        "kind": serving.kind.value,
        "served": serving.served,
        "summary": serving.summary,
        "reasons": list(serving.reasons),
        "records": [record_dict(r) for r in serving.records],
        "ttl": serving.ttl,
    }


def server_dict(server: Server, login: str) -> dict[str, Any]:
    """JSON form of one served server; ``login`` is its login template."""
    return {
        "protocol": server.protocol.value,
        "host": server.host,
        "port": server.port,
        "security": server.security.value,
        "authentication": server.authentication.value,
        "username": login,
        "label": server.label,
        "priority": server.priority,
        "weight": server.weight,
        **({"url": server.url} if server.protocol in DAV_PROTOCOLS else {}),
    }


def record_data(rrset: RRset) -> tuple[str, ...]:
    """Presentation form of the records in an answer (SRV, then TXT, then others)."""
    srv = (
        f"{r.priority} {r.weight} {r.port} {r.target + '.' if r.target else '.'}" for r in rrset.srv
    )
    return (*srv, *(txt_presentation(t) for t in rrset.txt), *rrset.rdata)


def txt_presentation(text: str) -> str:
    """A TXT string as in a zone file: quotes, backslashes and control characters escaped
    as ``\\DDD``, so hostile record data cannot forge lines of the report."""
    escaped = "".join(
        char if char.isprintable() and char not in '"\\' else f"\\{ord(char):03d}" for char in text
    )
    return f'"{escaped}"'


def record_dict(rrset: RRset) -> dict[str, Any]:
    """JSON form of one answer."""
    return {
        "name": rrset.name,
        "type": rrset.rdtype,
        "status": rrset.status.value,
        "ttl": rrset.ttl,
        "authenticated": rrset.authenticated,
        "data": list(record_data(rrset)),
        **({"error": rrset.error} if rrset.error else {}),
    }


def dropped_dict(dropped: Dropped) -> dict[str, Any]:
    """JSON form of one dropped record."""
    record = dropped.record
    return {
        "label": dropped.label,
        "target": record.target or ".",
        "port": record.port,
        "priority": record.priority,
        "weight": record.weight,
        "reason": dropped.reason,
    }


def finding_dict(finding: Finding) -> dict[str, str]:
    """JSON form of one finding."""
    return {
        "severity": finding.severity,
        "code": finding.code,
        "message": finding.message,
        "reference": finding.reference,
    }


def format_report(report: Report) -> str:
    """The human-readable form printed by ``mail-autoconf check``."""
    served = "served" if report.served else "NOT served"
    alias = f", alias of {report.primary}" if report.primary != report.domain else ""
    how = f": {report.serving.summary}" if report.served and report.serving else ""
    lines = [f"{report.domain} ({served}{how}{alias})", report.verdict]
    if report.error:
        lines.append(f"DNS error: {report.error}")
    if report.serving is not None:
        lines += ["", "Served or not, and why:"]
        lines += [f"  {reason}" for reason in report.serving.reasons]
        decided = _table([_record_row(r) for r in report.serving.records])
        lines += [f"  decided by: {row.strip()}" for row in decided]
    lines += ["", "Settings (in the order clients are told):"]
    lines += _table([_server_row(s) for s in report.servers]) or ["  (none)"]
    lines += ["", "Records seen:"]
    lines += _table([_record_row(r) for r in report.records])
    if report.dropped:
        lines += ["", "Dropped:"]
        lines += [
            f"  {d.label} {d.record.priority} {d.record.weight} {d.record.port} "
            f"{d.record.target or '.'}: {d.reason}"
            for d in report.dropped
        ]
    lines += ["", "Findings:"]
    lines += _table([_finding_row(f) for f in report.findings]) or ["  (none)"]
    lines += ["", "OK" if report.ok else "PROBLEMS FOUND"]
    return "\n".join(lines)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as indented lines, each column as wide as its widest cell and a column empty in
    every row left out: a DAV URL or a long record name moves its column for every row,
    never one line."""
    if not rows:
        return []
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    return [
        "  " + " ".join(c.ljust(w) for c, w in zip(row, widths, strict=True) if w).rstrip()
        for row in rows
    ]


def _server_row(s: Server) -> tuple[str, ...]:
    where = s.url if s.protocol in DAV_PROTOCOLS else f"{s.host}:{s.port}"
    origin = f"from {s.label} (priority {s.priority}, weight {s.weight})"
    return (s.protocol.value, where, s.security.value, origin)


def _record_row(r: RRset) -> tuple[str, ...]:
    detail = "; ".join(record_data(r)) or r.error
    ad = "authenticated" if r.authenticated else ""
    return (r.name, r.rdtype, r.status.value, f"ttl={r.ttl}", ad, detail)


def _finding_row(f: Finding) -> tuple[str, ...]:
    ref = f" [{f.reference}]" if f.reference else ""
    return (f.severity, f"{f.code}: {f.message}{ref}")

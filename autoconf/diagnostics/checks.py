"""Extra checks for ``mail-autoconf check`` (pure): questions the web path never asks.

The web path asks a fixed set of SRV/TXT questions per domain. An admin checking a domain
wants more: are the targets aliases, is ``_autodiscover._tcp`` published, is the
non-standard ``_smtps`` label in use. Those answers only feed findings, never settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence

from autoconf.model import Finding
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import Question
from autoconf.model import RRset
from autoconf.model import Status
from autoconf.names import host_name_problem
from autoconf.names import is_subdomain
from autoconf.names import shown

#: Targets the diagnostics page asks a CNAME question about, per load of the settings: a
#: domain may publish thousands of SRV targets, and each would be one more query for
#: anyone who opens the page. ``mail-autoconf check`` asks about every target.
PAGE_TARGET_CHECKS = 8
#: Names only linted, asked besides the target CNAMEs.
LINT_LABELS = ("_autodiscover", "_smtps")


def served_targets(provider: Provider) -> tuple[str, ...]:
    """Every served SRV target once, in the order clients are told: incoming, outgoing,
    CalDAV, CardDAV (so a capped check covers what clients try first)."""
    servers = (
        *provider.incoming,
        *provider.outgoing,
        *provider.of(Protocol.CALDAV),
        *provider.of(Protocol.CARDDAV),
    )
    return tuple(dict.fromkeys(s.host for s in servers))


def extra_questions(
    provider: Provider, targets: Sequence[str] | None = None
) -> tuple[Question, ...]:
    """CNAME questions for ``targets`` (default: every served target), plus the labels only
    linted."""
    checked = served_targets(provider) if targets is None else targets
    return (
        *((f"{target}.", "CNAME") for target in checked),
        *((f"{label}._tcp.{provider.domain}.", "SRV") for label in LINT_LABELS),
    )


def unchecked_finding(unchecked: Sequence[str], checked: int) -> Finding:
    """Says which targets were not asked about (the page's cap), naming the first few."""
    shown = ", ".join(unchecked[:10])
    more = f" and {len(unchecked) - 10} more" if len(unchecked) > 10 else ""
    return Finding(
        severity="info",
        code="targets-not-checked",
        message=f"{len(unchecked)} of {len(unchecked) + checked} SRV targets were not checked "
        f"for CNAME (this page asks about the first {checked} in the order clients are "
        f"told; 'mail-autoconf check' asks about all): {shown}{more}",
        reference="RFC 2782",
    )


def extra_findings(provider: Provider, answers: Mapping[Question, RRset]) -> Iterable[Finding]:
    """Findings from the answers to :func:`extra_questions`."""
    domain = provider.domain
    for (name, rdtype), rrset in sorted(answers.items()):
        if rdtype == "CNAME" and rrset.status is Status.ANSWER:
            # RFC 2782: "the name MUST NOT be an alias"; many clients cope, some do not.
            yield Finding(
                severity="warning",
                code="cname-target",
                message=f"SRV target {name.rstrip('.')} is an alias "
                f"(CNAME {', '.join(rrset.rdata)})",
                reference="RFC 2782",
            )
    autodiscover = answers.get((f"_autodiscover._tcp.{domain}.", "SRV"))
    if autodiscover is not None and autodiscover.status is not Status.FAILED:
        yield from _autodiscover_findings(domain, autodiscover)
    smtps = answers.get((f"_smtps._tcp.{domain}.", "SRV"))
    if smtps is not None and smtps.status is Status.ANSWER:
        yield Finding(
            severity="warning",
            code="smtps-label",
            message="_smtps._tcp is not a registered label and no client reads "
            "it; publish _submissions._tcp instead",
            reference="RFC 8314 §5.1",
        )


def _autodiscover_findings(domain: str, rrset: RRset) -> Iterable[Finding]:
    if rrset.status is not Status.ANSWER or not rrset.srv:
        yield Finding(
            severity="info",
            code="no-autodiscover-srv",
            message=f"no _autodiscover._tcp record: publish "
            f"'_autodiscover._tcp.{domain}. SRV 0 0 443 autodiscover.{domain}.' "
            "so Outlook and Thunderbird 142+ find the service",
            reference="MS-OXDSCLI §3.1.5.1",
        )
        return
    for record in rrset.srv:
        problem = host_name_problem(record.target) if record.target else ""
        if problem:
            yield Finding(
                severity="warning",
                code="autodiscover-bad-target",
                message=f"_autodiscover._tcp target '{shown(record.target)}' is not a host "
                f"name ({problem})",
                reference="RFC 2782, RFC 1123 §2.1",
            )
        elif record.target and not is_subdomain(record.target, domain):
            yield Finding(
                severity="warning",
                code="autodiscover-outside",
                message=f"_autodiscover._tcp points outside the domain "
                f"({record.target}); Outlook warns the user",
                reference="MS-OXDSCLI §3.1.5.1",
            )
        if record.port != 443:
            yield Finding(
                severity="warning",
                code="autodiscover-port",
                message=f"_autodiscover._tcp port {record.port}: Outlook and "
                "Thunderbird ignore the port and use 443",
                reference="MS-OXDSCLI §3.1.5.1",
            )

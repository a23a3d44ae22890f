"""From SRV/TXT answers to a provider: the RFC 6186 / 8314 / 2782 / 6764 rules.

Pure module (sans-I/O): it names the questions to ask and turns answers into a
:class:`~autoconf.model.Provider`; somebody else asks the questions.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass

from autoconf.errors import DnsUnavailableError
from autoconf.model import AliasLogin
from autoconf.model import Authentication
from autoconf.model import Dropped
from autoconf.model import Finding
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import Question
from autoconf.model import RRset
from autoconf.model import Security
from autoconf.model import Server
from autoconf.model import SrvRecord
from autoconf.model import Status
from autoconf.model import Username
from autoconf.names import host_name_problem
from autoconf.names import is_context_path
from autoconf.names import is_subdomain
from autoconf.names import shown


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    """One SRV service label and what it means."""

    label: str
    protocol: Protocol
    security: Security
    reference: str

    def qname(self, domain: str) -> str:
        """Absolute owner name, so no search list is ever applied."""
        return f"{self.label}._tcp.{domain}."


#: Every label read, implicit TLS first within each protocol (the order is only cosmetic;
#: selection sorts explicitly).
SERVICES: tuple[Service, ...] = (
    # RFC 8314 section 5.1 adds "_submissions" (implicit TLS, usually port 465).
    Service(
        label="_submissions",
        protocol=Protocol.SMTP,
        security=Security.TLS,
        reference="RFC 8314 §5.1",
    ),
    # RFC 6186 section 3.1: "_submission" is message submission with STARTTLS.
    Service(
        label="_submission",
        protocol=Protocol.SMTP,
        security=Security.STARTTLS,
        reference="RFC 6186 §3.1",
    ),
    # RFC 6186 section 3.2: "_imaps" is IMAP with TLS at connect, "_imap" uses STARTTLS.
    Service(
        label="_imaps", protocol=Protocol.IMAP, security=Security.TLS, reference="RFC 6186 §3.2"
    ),
    Service(
        label="_imap", protocol=Protocol.IMAP, security=Security.STARTTLS, reference="RFC 6186 §3.2"
    ),
    # RFC 6186 section 3.3: the same split for POP3 ("STLS").
    Service(
        label="_pop3s", protocol=Protocol.POP3, security=Security.TLS, reference="RFC 6186 §3.3"
    ),
    Service(
        label="_pop3", protocol=Protocol.POP3, security=Security.STARTTLS, reference="RFC 6186 §3.3"
    ),
    # RFC 6764 section 3: CalDAV/CardDAV over TLS ("s") or not; the TXT record on the same
    # name carries the context path (section 4).
    Service(
        label="_caldavs", protocol=Protocol.CALDAV, security=Security.TLS, reference="RFC 6764 §3"
    ),
    Service(
        label="_caldav", protocol=Protocol.CALDAV, security=Security.PLAIN, reference="RFC 6764 §3"
    ),
    Service(
        label="_carddavs", protocol=Protocol.CARDDAV, security=Security.TLS, reference="RFC 6764 §3"
    ),
    Service(
        label="_carddav",
        protocol=Protocol.CARDDAV,
        security=Security.PLAIN,
        reference="RFC 6764 §3",
    ),
)

MAIL_PROTOCOLS = (Protocol.IMAP, Protocol.POP3, Protocol.SMTP)
DAV_PROTOCOLS = (Protocol.CALDAV, Protocol.CARDDAV)


def questions(domain: str) -> tuple[Question, ...]:
    """The fixed, bounded set of questions for one domain: one SRV per label, TXT for DAV."""
    asked: list[Question] = []
    for service in SERVICES:
        asked.append((service.qname(domain), "SRV"))
        if service.protocol in DAV_PROTOCOLS:
            asked.append((service.qname(domain), "TXT"))
    return tuple(asked)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustPolicy:
    """Which SRV targets may be handed to clients (see docs/admin-guide.md, "Trust policy").

    RFC 6186 section 6: a target outside the queried domain SHOULD make the MUA ask the
    user. We cannot ask, so we only serve such a target when the operator vouches for it
    (a trusted suffix) or DNSSEC does (AD bit from a validating resolver on loopback).
    """

    trusted_suffixes: tuple[str, ...] = ()
    accept_dnssec: bool = False

    def __post_init__(self) -> None:
        for suffix in self.trusted_suffixes:
            problem = host_name_problem(suffix)
            if problem:
                raise ValueError(f"trusted suffix {suffix!r}: {problem}")

    def refusal(self, target: str, domain: str, *, authenticated: bool) -> str:
        """Why ``target`` may not be served for ``domain``; "" when it may.

        Only host names pass (a label such as ``evil.org/`` would move a URL's authority),
        and they are compared with the domain and the suffixes as DNS names, label by label.
        """
        problem = host_name_problem(target)
        if problem:
            return f"target is not a host name: {problem}"
        if is_subdomain(target, domain):
            return ""
        if any(is_subdomain(target, suffix) for suffix in self.trusted_suffixes):
            return ""
        if self.accept_dnssec and authenticated:
            return ""
        # Zone-file answers count as authenticated too, so the fix that always applies is
        # the suffix list; dnssec = true is only named as the alternative it is.
        fix = "list its suffix in dns.trusted_target_suffixes to serve it"
        if authenticated:
            fix += (
                " (the answer counts as authenticated, from a zone file or with the DNSSEC "
                "AD bit, so dns.dnssec = true would accept it too)"
            )
        return f"target outside the domain and not under a trusted suffix: {fix} (RFC 6186 §6)"

    def acceptance(self, target: str, domain: str) -> str:
        """Why a served ``target`` was accepted: the counterpart of :meth:`refusal`."""
        if is_subdomain(target, domain):
            return f"inside {domain}"
        for suffix in self.trusted_suffixes:
            if is_subdomain(target, suffix):
                return f"under the trusted suffix {suffix}"
        return "outside the domain, accepted on the DNSSEC AD bit"


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainProfile:
    """Per-domain settings from the configuration that DNS cannot express."""

    display_name: str
    username: Username = Username.EMAILADDRESS
    authentication: Authentication = Authentication.PASSWORD_CLEARTEXT
    aliases: tuple[str, ...] = ()
    activesync_url: str = ""
    alias_login: AliasLogin = AliasLogin.PRIMARY


def _sort_key(service: Service, record: SrvRecord) -> tuple[int, int, int, str, int]:
    # RFC 2782: lowest priority first. Weight only load-balances, and the answer has to be
    # deterministic (cacheable documents, stable profile identifiers), so instead of the
    # RFC's weighted random draw we sort by weight, heaviest first. At equal priority,
    # implicit TLS wins over STARTTLS (RFC 8314 section 3 prefers implicit TLS).
    tls_rank = 0 if service.security is Security.TLS else 1
    return (record.priority, tls_rank, -record.weight, record.target, record.port)


def _txt_paths(rrset: RRset | None) -> list[str]:
    """RFC 6764 section 4: the values of ``path`` keys in the TXT record (keys are
    case-insensitive, RFC 6763 section 6.4)."""
    if rrset is None or rrset.status is not Status.ANSWER:
        return []
    values = []
    for text in rrset.txt:
        key, sep, value = text.partition("=")
        if sep and key.strip().lower() == "path":
            values.append(value)
    return values


def _txt_path(rrset: RRset | None) -> str:
    """The first usable context path of the TXT record; "" when there is none."""
    return next((value for value in _txt_paths(rrset) if is_context_path(value)), "")


def derive(
    domain: str,
    answers: Mapping[Question, RRset],
    profile: DomainProfile,
    policy: TrustPolicy,
) -> Provider:
    """Build the provider for ``domain`` from the answers to :func:`questions`.

    :raises DnsUnavailableError: when any question failed (SERVFAIL, timeout): a partial
        view could pick a worse server than the one the domain prefers, so none is chosen.
    """
    failed = [a for a in answers.values() if a.status is Status.FAILED]
    if failed:
        raise DnsUnavailableError("; ".join(f"{a.name} {a.rdtype}: {a.error}" for a in failed))
    candidates: dict[Protocol, list[tuple[tuple[int, int, int, str, int], Server]]] = {}
    dropped: list[Dropped] = []
    ttls: list[int] = []
    for service in SERVICES:
        rrset = answers.get((service.qname(domain), "SRV"))
        if rrset is None:
            continue
        ttls.append(rrset.ttl)
        if rrset.status is not Status.ANSWER:
            continue
        path = _txt_path(answers.get((service.qname(domain), "TXT")))
        for record in rrset.srv:
            reason = _refusal(service, record, rrset, domain, policy)
            if reason:
                dropped.append(Dropped(label=service.label, record=record, reason=reason))
                continue
            server = Server(
                protocol=service.protocol,
                # One string per host name, however many cached providers name it: IMAP
                # and SMTP usually share a host, and hosted domains share their hoster's.
                host=sys.intern(record.target.lower()),
                port=record.port,
                security=service.security,
                authentication=profile.authentication,
                username=profile.username,
                label=service.label,
                priority=record.priority,
                weight=record.weight,
                path=path if service.protocol in DAV_PROTOCOLS else "",
            )
            candidates.setdefault(service.protocol, []).append((_sort_key(service, record), server))
    servers = {
        protocol: tuple(server for _, server in sorted(pool, key=lambda item: item[0]))
        for protocol, pool in candidates.items()
    }
    return Provider(
        domain=domain,
        display_name=profile.display_name,
        aliases=profile.aliases,
        servers=servers,
        incoming_order=_incoming_order(servers),
        dropped=tuple(dropped),
        findings=tuple(lint(domain, answers, servers)),
        ttl=min(ttls, default=0),
        activesync_url=profile.activesync_url,
        alias_login=profile.alias_login,
    )


def _refusal(
    service: Service, record: SrvRecord, rrset: RRset, domain: str, policy: TrustPolicy
) -> str:
    if record.not_offered:
        # RFC 2782: a lone "." target means "decidedly not available". RFC 6186 section 3
        # repeats it; a "." mixed with real targets is malformed, so it is dropped alone.
        return "target '.' means the service is not offered (RFC 2782)"
    if record.port == 0:
        return "port 0 cannot be connected to"
    if service.security is Security.PLAIN:
        # RFC 6764 section 3 tells clients to prefer TLS; we go further and never hand out
        # settings that would send a password without TLS (RFC 8314 section 3 spirit).
        return "service without TLS is never served"
    return policy.refusal(record.target, domain, authenticated=rrset.authenticated)


def _incoming_order(servers: Mapping[Protocol, tuple[Server, ...]]) -> tuple[Protocol, ...]:
    # RFC 6186 section 3.4: the MUA uses the protocol whose best record has the lowest
    # priority; at equal priority it may choose, and we choose IMAP because Thunderbird for
    # Android, K-9 and Delta Chat only speak IMAP.
    offered = [p for p in (Protocol.IMAP, Protocol.POP3) if servers.get(p)]
    order = tuple(sorted(offered, key=lambda p: servers[p][0].priority))
    return _ORDERS.get(order, order)


#: The few possible incoming orders, shared by every provider (and so by every entry of
#: the settings cache) instead of one equal tuple each.
_ORDERS: dict[tuple[Protocol, ...], tuple[Protocol, ...]] = {
    order: order
    for order in (
        (),
        (Protocol.IMAP,),
        (Protocol.POP3,),
        (Protocol.IMAP, Protocol.POP3),
        (Protocol.POP3, Protocol.IMAP),
    )
}


def lint(
    domain: str,
    answers: Mapping[Question, RRset],
    servers: Mapping[Protocol, tuple[Server, ...]],
) -> Iterable[Finding]:
    """Findings about the records themselves (what ``mail-autoconf check`` reports)."""
    if not servers.get(Protocol.IMAP) and not servers.get(Protocol.POP3):
        yield Finding(
            severity="error",
            code="no-incoming",
            message="no usable _imaps, _imap, _pop3s or _pop3 record",
            reference="RFC 6186 §3.2, §3.3",
        )
    if not servers.get(Protocol.SMTP):
        yield Finding(
            severity="error",
            code="no-submission",
            message="no usable _submissions or _submission record",
            reference="RFC 6186 §3.1, RFC 8314 §5.1",
        )
    submissions = answers.get((f"_submissions._tcp.{domain}.", "SRV"))
    if servers.get(Protocol.SMTP) and (
        submissions is None or submissions.status is not Status.ANSWER
    ):
        yield Finding(
            severity="warning",
            code="no-submissions",
            message="no _submissions record: clients cannot find implicit-TLS "
            "submission (port 465)",
            reference="RFC 8314 §5.1",
        )
    for protocol in MAIL_PROTOCOLS:
        pool = servers.get(protocol, ())
        if pool and all(s.security is not Security.TLS for s in pool):
            yield Finding(
                severity="warning",
                code="cleartext-start",
                message=f"{protocol.value} is only offered with STARTTLS: the "
                "session starts in cleartext and a network attacker can strip "
                "the upgrade; publish the implicit-TLS label too",
                reference="RFC 8314 §3",
            )
    yield from _target_findings(domain, answers)
    yield from _dav_findings(domain, answers, servers)


def _target_findings(domain: str, answers: Mapping[Question, RRset]) -> Iterable[Finding]:
    """SRV targets that are not host names: dropped, and an error worth fixing (or a sign
    that someone forges the domain's answers)."""
    for service in SERVICES:
        rrset = answers.get((service.qname(domain), "SRV"))
        if rrset is None or rrset.status is not Status.ANSWER:
            continue
        for record in rrset.srv:
            problem = "" if record.not_offered else host_name_problem(record.target)
            if problem:
                yield Finding(
                    severity="error",
                    code="bad-target",
                    message=f"{service.label}._tcp target '{shown(record.target)}' is not a host "
                    f"name ({problem}); the record is dropped",
                    reference="RFC 2782, RFC 1123 §2.1",
                )


def _dav_findings(
    domain: str,
    answers: Mapping[Question, RRset],
    servers: Mapping[Protocol, tuple[Server, ...]],
) -> Iterable[Finding]:
    for service in SERVICES:
        if service.protocol not in DAV_PROTOCOLS or service.security is not Security.TLS:
            continue
        txt = answers.get((service.qname(domain), "TXT"))
        bad = [value for value in _txt_paths(txt) if not is_context_path(value)]
        if bad:
            yield Finding(
                severity="warning",
                code="dav-bad-path",
                message=f"{service.label}._tcp TXT path={bad[0]!r} is not an absolute URL "
                "path; it is ignored",
                reference="RFC 6764 §4",
            )
        offered = any(s.label == service.label for s in servers.get(service.protocol, ()))
        if offered and not _txt_path(txt):
            yield Finding(
                severity="info",
                code="dav-no-path",
                message=f"no usable '{service.label}._tcp TXT \"path=...\"': clients "
                f"start at /.well-known/{service.protocol.value} on the SRV target",
                reference="RFC 6764 §4, §6",
            )


def autodiscover_question(domain: str) -> Question:
    """The SRV question naming a domain's Autodiscover host ([MS-OXDSCLI] 3.1.5.1,
    ``_autodiscover._tcp``); asked apart from :func:`questions`, and only when needed."""
    return (f"_autodiscover._tcp.{domain}.", "SRV")


def autodiscover_host(domain: str, rrset: RRset | None, policy: TrustPolicy) -> str:
    """The host (``name`` or ``name:port`` when the port is not 443) of the preferred
    usable ``_autodiscover._tcp`` record; "" when there is none.

    The target ends up in the URL Outlook is sent to, so it passes the same trust policy
    as the mail targets: :meth:`TrustPolicy.refusal` admits host names only (LDH labels,
    compared as DNS names). Records are taken in RFC 2782 order with the same
    deterministic weight rule as :func:`derive`.
    """
    if rrset is None or rrset.status is not Status.ANSWER:
        return ""
    for record in sorted(rrset.srv, key=lambda r: (r.priority, -r.weight, r.target, r.port)):
        if record.not_offered or record.port == 0:
            continue
        if policy.refusal(record.target, domain, authenticated=rrset.authenticated):
            continue
        host = record.target.lower()
        return host if record.port == 443 else f"{host}:{record.port}"
    return ""

"""Hosted domains: which domains outside ``[domains]`` a mail host serves, decided by DNS.

Pure module (sans-I/O, like :mod:`autoconf.discovery`): it names the questions of one
decision and decides from the answers; somebody else asks them. A domain that is not listed
is served when, in this order (docs/hosted-domains.md):

(a) **SRV**: the settings derived from its own SRV records (RFC 6186, RFC 8314, RFC 6764)
    have a usable incoming and outgoing server, and every server its SRV records name lies
    under one of the operator's ``mail_hosts``: it gets those settings;
(b) **MX**: its most preferred MX host (RFC 5321 section 5.1) lies under ``mail_hosts``: it
    gets the operator's provider settings, relabelled for the domain. This is the customer
    Thunderbird finds through ``fetchConfigForMX`` (comm-central
    ``mailnews/../accountcreation/FetchConfig.sys.mjs``) and Thunderbird for Android through
    ``RealAutoDiscoveryRegistry.kt``;
(c) **CNAME**: ``autoconfig.<d>`` or ``autodiscover.<d>`` is a CNAME to the provider's own
    ``autoconfig.``/``autodiscover.`` name (the per-domain records hosters ask customers to
    publish): it gets the provider's settings.

Otherwise it is not served. One decision asks :func:`questions`: the usual SRV/TXT set plus
one MX and two CNAME questions, a fixed number, all in one lookup (one round trip). A hosted
domain is its own mailbox domain, never an alias of the provider: its users log in as
themselves and no Autodiscover client is redirected elsewhere.
"""

from __future__ import annotations

import enum
import math
import sys
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields

from autoconf.discovery import SERVICES
from autoconf.discovery import DomainProfile
from autoconf.discovery import TrustPolicy
from autoconf.discovery import derive
from autoconf.discovery import questions as discovery_questions
from autoconf.model import Authentication
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import Question
from autoconf.model import RRset
from autoconf.model import Server
from autoconf.model import Status
from autoconf.model import Username
from autoconf.names import host_name_problem
from autoconf.names import is_subdomain
from autoconf.names import shown

#: Top-level names no mail domain can end in: special-use names that are never delegated
#: in the public DNS, so asking about them only leaks queries (RFC 6761 section 6.3
#: "localhost", 6.4 "invalid"; RFC 6762 "local" (mDNS); RFC 7686 "onion"; RFC 9476 "alt";
#: RFC 3172 "arpa" (infrastructure, with RFC 8375 "home.arpa"); "internal", reserved by
#: ICANN for private use in 2024). "test" and "example" (RFC 2606) are left alone: RFC 6761
#: asks applications not to treat them specially, and test setups use them.
SPECIAL_USE_TLDS = frozenset({"localhost", "invalid", "local", "onion", "alt", "arpa", "internal"})
#: The names clients put in front of a mail domain; a CNAME there is condition (c).
SERVICE_LABELS = ("autoconfig", "autodiscover")
#: The placeholder of the ``display_name`` and ``activesync_url`` templates.
DOMAIN_PLACEHOLDER = "{domain}"


class Kind(enum.StrEnum):
    """Why a domain is served, or that it is not."""

    LISTED = "listed"
    SRV = "srv"
    MX = "mx"
    CNAME = "cname"
    NOT_SERVED = "not-served"
    #: A question the decision depended on failed (SERVFAIL, timeout): nothing decided.
    FAILED = "failed"


#: How each kind reads in a sentence ("served: hosted by MX").
KIND_TEXT = {
    Kind.LISTED: "listed in [domains]",
    Kind.SRV: "hosted by SRV",
    Kind.MX: "hosted by MX",
    Kind.CNAME: "hosted by CNAME",
    Kind.NOT_SERVED: "not served",
    Kind.FAILED: "undecided: DNS failed",
}
SERVED_KINDS = frozenset({Kind.LISTED, Kind.SRV, Kind.MX, Kind.CNAME})


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """Whether one domain is served, why, and for how long the answer holds."""

    domain: str
    kind: Kind
    #: The answers that decided: the MX or CNAME that made the domain hosted, or the MX and
    #: CNAMEs that did not (the SRV records are the settings' own, shown with them).
    records: tuple[RRset, ...] = ()
    #: One sentence per condition tried, in order (what ``check`` and the page show).
    reasons: tuple[str, ...] = ()
    #: Seconds the decision holds: the smallest TTL of the answers it rests on (for absent
    #: records the RFC 2308 negative TTL); the cache clamps it.
    ttl: int = 0
    #: For MX and CNAME: the record that decided, relative to the domain as in a zone file
    #: ("@ MX 10 mx.mail.hoster.example." or "autoconfig CNAME autoconfig.hoster.example.").
    #: Interned, so one string serves every customer of a host; kept when the cache drops
    #: ``records``, so the settings snapshot can write it (:mod:`autoconf.snapshot`).
    decided_by: str = ""

    @property
    def served(self) -> bool:
        return self.kind in SERVED_KINDS

    @property
    def summary(self) -> str:
        """One phrase: "hosted by MX", "not served"..."""
        return KIND_TEXT[self.kind]


def listed(domain: str, primary: str) -> Decision:
    """The decision for a domain of ``[domains]`` (or one of its aliases): no DNS needed."""
    why = "listed in [domains]" if domain == primary else f"an alias of {primary} in [domains]"
    return Decision(domain=domain, kind=Kind.LISTED, reasons=(why,))


def not_listed(domain: str, why: str) -> Decision:
    """Not served, decided without DNS (hosting off, or a name never looked up)."""
    return Decision(domain=domain, kind=Kind.NOT_SERVED, reasons=(why,))


@dataclass(frozen=True, slots=True, kw_only=True)
class HostingPolicy:
    """The ``[hosting]`` rule, validated (see :mod:`autoconf.config`)."""

    #: Suffixes of the operator's own mail server names ("mail.hoster.example").
    mail_hosts: tuple[str, ...]
    #: The listed domain whose settings MX- and CNAME-hosted domains get.
    provider: str
    #: The provider and its aliases: CNAMEs to their autoconfig./autodiscover. names count.
    provider_names: tuple[str, ...] = ()
    #: Trust for SRV targets of hosted domains: the usual policy with ``mail_hosts`` added.
    trust: TrustPolicy = field(default_factory=TrustPolicy)
    #: Defaults for hosted domains: the display name and ActiveSync URL are templates in
    #: which ``{domain}`` stands for the domain (the configuration puts the provider's own
    #: ActiveSync URL here when ``[hosting] activesync_url`` is empty).
    display_name: str = DOMAIN_PLACEHOLDER
    username: Username = Username.EMAILADDRESS
    authentication: Authentication = Authentication.PASSWORD_CLEARTEXT
    activesync_url: str = ""

    def __post_init__(self) -> None:
        for suffix in self.mail_hosts:
            problem = host_name_problem(suffix)
            if problem:
                raise ValueError(f"mail host {suffix!r}: {problem}")

    def profile(self, domain: str) -> DomainProfile:
        """The profile of hosted ``domain``: what DNS cannot say about it."""
        return DomainProfile(
            display_name=_fill(self.display_name, domain),
            username=self.username,
            authentication=self.authentication,
            activesync_url=_fill(self.activesync_url, domain),
        )

    def is_mail_host(self, name: str) -> bool:
        """Whether ``name`` lies under one of the operator's mail host suffixes (as DNS
        names, label by label)."""
        return any(is_subdomain(name, suffix) for suffix in self.mail_hosts)

    @property
    def service_names(self) -> tuple[str, ...]:
        """The provider's own ``autoconfig.``/``autodiscover.`` names (and its aliases')."""
        names = self.provider_names or (self.provider,)
        return tuple(f"{label}.{name}" for name in names for label in SERVICE_LABELS)


def _fill(template: str, domain: str) -> str:
    # A plain replacement, not str.format: a template must not reach attributes. The
    # default template gives the domain's own string object (one string less per domain).
    if template == DOMAIN_PLACEHOLDER:
        return domain
    return template.replace(DOMAIN_PLACEHOLDER, domain)


def admissible(domain: str) -> str:
    """Why ``domain`` (a normalised A-label) is never looked up as a hosted domain; "" when
    it may be. Checked before any query, so a stranger cannot make the service ask about
    names no mail client asks for."""
    problem = host_name_problem(domain)
    if problem:
        return f"not a host name: {problem}"
    labels = domain.split(".")
    if len(labels) < 2:
        return "a mail domain has at least two labels"
    if labels[-1] in SPECIAL_USE_TLDS:
        return f"'.{labels[-1]}' is a special-use name, never a public mail domain (RFC 6761)"
    return ""


def mx_question(domain: str) -> Question:
    return (f"{domain}.", "MX")


def cname_questions(domain: str) -> tuple[Question, ...]:
    return tuple((f"{label}.{domain}.", "CNAME") for label in SERVICE_LABELS)


def questions(domain: str) -> tuple[Question, ...]:
    """Everything one decision needs, asked at once: the usual SRV/TXT set, the MX and the
    two CNAMEs (17 questions, one round trip)."""
    return (*discovery_questions(domain), mx_question(domain), *cname_questions(domain))


@dataclass(frozen=True, slots=True, kw_only=True)
class MxRecord:
    """One MX record (RFC 1035 section 3.3.9); ``exchange`` "" is the null MX of RFC 7505."""

    preference: int
    exchange: str


def parse_mx(text: str) -> MxRecord | None:
    """An MX record from its presentation form ("10 mx.example.org."); None when malformed.
    The exchange is lower case without the final dot, not yet known to be a host name."""
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) > 65535:
        return None
    exchange = parts[1].lower()
    exchange = "" if exchange == "." else exchange.removesuffix(".")
    return MxRecord(preference=int(parts[0]), exchange=exchange)


def parse_target(text: str) -> str:
    """A CNAME target from its presentation form, lower case without the final dot."""
    return text.strip().lower().removesuffix(".")


def decide(
    domain: str, answers: Mapping[Question, RRset], policy: HostingPolicy
) -> tuple[Decision, Provider | None]:
    """Decide from the answers to :func:`questions` whether ``domain`` is served.

    Returns the decision and the settings derived from the domain's own SRV records (with
    the hosted profile), which clients get when the decision is :attr:`Kind.SRV`; None when
    those answers failed. A condition whose answers failed ends the decision as
    :attr:`Kind.FAILED` unless an earlier condition already held: a failure is never taken
    for absence, or a domain could be served the provider's settings instead of its own.
    """
    reasons: list[str] = []
    srv_answers = {q: a for q, a in answers.items() if q[1] in ("SRV", "TXT")}
    failed = [a for a in srv_answers.values() if a.status is Status.FAILED]
    if failed:
        reasons.append("SRV: " + _failures(failed))
        return _failed(domain, reasons), None
    derived = derive(domain, srv_answers, policy.profile(domain), policy.trust)
    why_not = _srv_refusal(derived, srv_answers, domain, policy)
    ttls = [derived.ttl]
    if not why_not:
        hosts = sorted({s.host for servers in derived.servers.values() for s in servers})
        reasons.append(
            f"SRV: every server its SRV records name lies under {_suffixes(policy)} "
            f"({', '.join(hosts)})"
        )
        return Decision(
            domain=domain, kind=Kind.SRV, reasons=_interned(reasons), ttl=derived.ttl
        ), derived
    reasons.append(f"not by SRV: {why_not}")

    mx = answers.get(mx_question(domain))
    if mx is None or mx.status is Status.FAILED:
        reasons.append("MX: " + _failures([mx] if mx else []))
        return _failed(domain, reasons), derived
    ttls.append(mx.ttl)
    best, why = _mx_condition(mx, policy)
    reasons.append(why)
    if best is not None:
        return Decision(
            domain=domain,
            kind=Kind.MX,
            records=(mx,),
            reasons=_interned(reasons),
            ttl=min(ttls),
            decided_by=sys.intern(f"@ MX {best.preference} {best.exchange}."),
        ), derived

    consulted: list[RRset] = [mx]
    unanswered: list[RRset] = []
    for question in cname_questions(domain):
        rrset = answers.get(question)
        if rrset is None or rrset.status is Status.FAILED:
            unanswered.extend([rrset] if rrset else [])
            continue
        consulted.append(rrset)
        ttls.append(rrset.ttl)
        target, why = _cname_condition(rrset, policy)
        reasons.append(why)
        if target:
            owner = rrset.name.partition(".")[0]
            return Decision(
                domain=domain,
                kind=Kind.CNAME,
                records=(rrset,),
                reasons=_interned(reasons),
                ttl=min(ttls),
                decided_by=sys.intern(f"{owner} CNAME {target}."),
            ), derived
    if len(consulted) < 1 + len(SERVICE_LABELS):
        reasons.append("CNAME: " + _failures(unanswered))
        return _failed(domain, reasons), derived
    return Decision(
        domain=domain,
        kind=Kind.NOT_SERVED,
        records=tuple(consulted),
        reasons=_interned(reasons),
        ttl=min(ttls),
    ), derived


def _failed(domain: str, reasons: list[str]) -> Decision:
    return Decision(domain=domain, kind=Kind.FAILED, reasons=_interned(reasons))


def _interned(reasons: list[str]) -> tuple[str, ...]:
    # The reasons name the operator's hosts, rarely the domain: one string per distinct
    # sentence, however many decisions a worker keeps.
    return tuple(sys.intern(reason) for reason in reasons)


def _failures(rrsets: Iterable[RRset]) -> str:
    found = "; ".join(f"{a.name} {a.rdtype}: {a.error}" for a in rrsets)
    return f"DNS failed ({found or 'no answer'}), so nothing is decided (RFC 2308 §7)"


def _suffixes(policy: HostingPolicy) -> str:
    return " or ".join(policy.mail_hosts)


def _srv_refusal(
    derived: Provider, answers: Mapping[Question, RRset], domain: str, policy: HostingPolicy
) -> str:
    """Why condition (a) does not hold; "" when it does.

    Every target the SRV records name counts, also one the trust policy dropped: a domain
    whose records point partly elsewhere is not wholly hosted here, and serving only the
    part that is would hide its other servers from its users.
    """
    for service in SERVICES:
        rrset = answers.get((service.qname(domain), "SRV"))
        if rrset is None or rrset.status is not Status.ANSWER:
            continue
        for record in rrset.srv:
            if record.not_offered:
                continue
            if not policy.is_mail_host(record.target):
                return (
                    f"{service.label}._tcp names {shown(record.target)}, which is not under "
                    f"{_suffixes(policy)}"
                )
    if not any(a.status is Status.ANSWER for (_, rdtype), a in answers.items() if rdtype == "SRV"):
        return "it publishes no SRV records"
    if not derived.usable:
        return "its SRV records give no usable incoming and outgoing server"
    return ""


def _mx_condition(rrset: RRset, policy: HostingPolicy) -> tuple[MxRecord | None, str]:
    """Condition (b): the most preferred MX host lies under ``mail_hosts``; returns that
    record when it does (else None), and the reason.

    RFC 5321 section 5.1: the lowest preference is tried first; among equals the order is
    random for senders, here the smallest name (a fixed choice, so every request gets the
    same decision). Records whose exchange is not a host name are ignored; a null MX
    (RFC 7505: "0 .") says the domain receives no mail at all.
    """
    if rrset.status is not Status.ANSWER:
        return None, f"not by MX: no MX record ({rrset.status.value})"
    records = [r for r in (parse_mx(text) for text in rrset.rdata) if r is not None]
    if any(r.exchange == "" for r in records):
        return None, "not by MX: a null MX says the domain receives no mail (RFC 7505)"
    usable = [r for r in records if not host_name_problem(r.exchange)]
    if not usable:
        return None, "not by MX: no MX record names a host name"
    best = min(usable, key=lambda r: (r.preference, r.exchange))
    where = f"its most preferred MX {best.exchange} (preference {best.preference})"
    if policy.is_mail_host(best.exchange):
        return best, f"MX: {where} lies under {_suffixes(policy)}"
    return None, f"not by MX: {where} is not under {_suffixes(policy)}"


def _cname_condition(rrset: RRset, policy: HostingPolicy) -> tuple[str, str]:
    """Condition (c): ``rrset`` (a CNAME question's answer) names one of the provider's own
    ``autoconfig.``/``autodiscover.`` names, compared as DNS names; returns that name when
    it does (else ""), and the reason."""
    # "its autoconfig. name": the sentence does not repeat the domain, so it is shared.
    name = f"its {rrset.name.partition('.')[0]}. name"
    if rrset.status is not Status.ANSWER or not rrset.rdata:
        return "", f"not by CNAME: {name} is no CNAME ({rrset.status.value})"
    target = parse_target(rrset.rdata[0])
    if host_name_problem(target):
        return "", f"not by CNAME: {name} is a CNAME to a name that is no host name"
    if any(target == own for own in policy.service_names):
        return target, f"CNAME: {name} is a CNAME to {target}, the provider's own name"
    wanted = " or ".join(policy.service_names[:2])
    return "", f"not by CNAME: {name} is a CNAME to {target}, not to {wanted}"


@dataclass(frozen=True, slots=True, kw_only=True)
class HostedProvider(Provider):
    """A hosted domain's settings with the decision that made them (what the decision
    cache keeps). A not-served decision carries no servers, so the cache keeps it as a
    negative answer, by the same rules as any unusable provider (RFC 2308 section 5)."""

    decision: Decision


def hosted(provider: Provider, decision: Decision, ttl: int) -> HostedProvider:
    """``provider`` as a :class:`HostedProvider` of ``decision``, living ``ttl`` seconds."""
    values = {f.name: getattr(provider, f.name) for f in fields(Provider)}
    return HostedProvider(**{**values, "ttl": ttl}, decision=decision)


def unserved(decision: Decision) -> HostedProvider:
    """The cache entry of a domain that is not served: no servers, the decision's TTL."""
    return HostedProvider(
        domain=decision.domain,
        display_name=decision.domain,
        ttl=decision.ttl,
        decision=decision,
    )


def relabel(
    provider: Provider,
    domain: str,
    profile: DomainProfile,
    servers: dict[Protocol, tuple[Server, ...]],
) -> Provider:
    """The provider's settings told to ``domain``'s users: its servers (``servers``, from
    :func:`hosted_servers`), the hosted domain's name, display name and ActiveSync URL. No
    aliases, no findings: those belong to the provider's own domain.

    ``servers`` is kept, not copied: one mapping serves every hosted domain (nothing
    mutates a provider's servers)."""
    return Provider(
        domain=domain,
        display_name=profile.display_name,
        servers=servers,
        incoming_order=provider.incoming_order,
        ttl=provider.ttl,
        activesync_url=profile.activesync_url,
    )


def hosted_servers(
    provider: Provider, profile: DomainProfile
) -> dict[Protocol, tuple[Server, ...]]:
    """The provider's servers with the hosted login name and authentication. The same
    :class:`Server` objects when nothing changes (every hosted domain shares them)."""

    def relabelled(server: Server) -> Server:
        if (server.username, server.authentication) == (profile.username, profile.authentication):
            return server
        values = {f.name: getattr(server, f.name) for f in fields(Server)}
        values.update(username=profile.username, authentication=profile.authentication)
        return Server(**values)

    return {
        protocol: tuple(relabelled(s) for s in pool) for protocol, pool in provider.servers.items()
    }


Clock = Callable[[], float]


class Budget:
    """A token bucket: at most ``rate`` cold decisions per second on average, ``burst`` at
    once (per worker). Beyond it the service answers 503 with Retry-After instead of asking
    DNS, so a flood of strangers' names costs a bounded number of queries.
    """

    def __init__(self, rate: float, *, burst: float | None = None, clock: Clock = time.monotonic):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Spend one token: 0.0 when granted, else the seconds until one is available."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate


def retry_after(wait: float) -> int:
    """Whole seconds for a Retry-After header (RFC 9110 section 10.2.3), at least 1."""
    return max(1, math.ceil(wait))

"""The hosting rule from plain answers (pure core: no DNS, no Flask), and the budget with an
injected clock. Real-DNS behaviour is in tests/test_hosting.py (Knot)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from autoconf import hosting
from autoconf.discovery import DomainProfile
from autoconf.discovery import TrustPolicy
from autoconf.discovery import questions as srv_questions
from autoconf.hosting import Budget
from autoconf.hosting import HostingPolicy
from autoconf.hosting import Kind
from autoconf.hosting import admissible
from autoconf.hosting import decide
from autoconf.hosting import parse_mx
from autoconf.model import Authentication
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import Question
from autoconf.model import RRset
from autoconf.model import Security
from autoconf.model import Server
from autoconf.model import SrvRecord
from autoconf.model import Status
from autoconf.model import Username
from tests.doubles import FakeClock

D = "customer.example"
POLICY = HostingPolicy(
    mail_hosts=("mail.hoster.example",),
    provider="hoster.example",
    provider_names=("hoster.example", "hoster.net"),
    trust=TrustPolicy(trusted_suffixes=("mail.hoster.example",)),
    display_name="{domain} (Hoster)",
)


def answers(
    *,
    srv: dict[str, Iterable[str]] | None = None,
    mx: Iterable[str] | Status = Status.NXDOMAIN,
    cname: dict[str, str] | None = None,
    failed: Iterable[str] = (),
    ttl: int = 3600,
    negative_ttl: int = 90,
) -> dict[Question, RRset]:
    """Answers to every question of one decision for D: SRV by label ("_imaps": ["0 1 993
    imap.mail.hoster.example"]), MX records or a status, CNAMEs by first label; anything
    not given is NXDOMAIN. ``failed`` names labels ("_imaps", "MX", "autoconfig") that fail.
    """
    result: dict[Question, RRset] = {}
    for name, rdtype in hosting.questions(D):
        label = name.split(".")[0] if rdtype != "MX" else "MX"
        if label in failed:
            result[(name, rdtype)] = RRset(
                name=name, rdtype=rdtype, status=Status.FAILED, error="SERVFAIL"
            )
            continue
        negative = RRset(name=name, rdtype=rdtype, status=Status.NXDOMAIN, ttl=negative_ttl)
        if rdtype == "SRV" and label in (srv or {}):
            records = tuple(_srv(text) for text in (srv or {})[label])
            result[(name, rdtype)] = RRset(
                name=name, rdtype=rdtype, status=Status.ANSWER, ttl=ttl, srv=records
            )
        elif rdtype == "MX" and not isinstance(mx, Status):
            result[(name, rdtype)] = RRset(
                name=name, rdtype=rdtype, status=Status.ANSWER, ttl=ttl, rdata=tuple(mx)
            )
        elif rdtype == "MX" and isinstance(mx, Status):
            result[(name, rdtype)] = RRset(name=name, rdtype=rdtype, status=mx, ttl=negative_ttl)
        elif rdtype == "CNAME" and label in (cname or {}):
            target = (cname or {})[label]
            result[(name, rdtype)] = RRset(
                name=name, rdtype=rdtype, status=Status.ANSWER, ttl=ttl, rdata=(target,)
            )
        else:
            result[(name, rdtype)] = negative
    return result


def _srv(text: str) -> SrvRecord:
    priority, weight, port, target = text.split()
    return SrvRecord(
        priority=int(priority),
        weight=int(weight),
        port=int(port),
        target="" if target == "." else target,
    )


HOSTED_SRV = {
    "_imaps": ["0 1 993 imap.mail.hoster.example"],
    "_submission": ["0 1 587 smtp.mail.hoster.example"],
}


def test_questions_are_the_srv_set_plus_mx_and_two_cnames() -> None:
    """One decision asks a fixed number of questions: the usual 14, one MX, two CNAMEs."""
    asked = hosting.questions(D)
    assert asked[:14] == srv_questions(D)
    assert asked[14:] == (
        (f"{D}.", "MX"),
        (f"autoconfig.{D}.", "CNAME"),
        (f"autodiscover.{D}.", "CNAME"),
    )
    assert len(set(asked)) == 17


def test_own_srv_at_the_operator_is_hosted_by_srv_with_its_own_settings() -> None:
    decision, derived = decide(D, answers(srv=HOSTED_SRV, mx=["10 mx.elsewhere.example."]), POLICY)
    assert decision.kind is Kind.SRV and decision.served
    assert derived is not None
    assert [(s.host, s.port, s.security) for s in derived.outgoing] == [
        ("smtp.mail.hoster.example", 587, Security.STARTTLS)
    ]
    assert derived.display_name == "customer.example (Hoster)"
    # The SRV answers decided: TTL 3600 for the records, 90 for the absent labels.
    assert decision.ttl == 90


def test_srv_partly_elsewhere_is_not_hosted_by_srv() -> None:
    """A record naming another host fails (a) even when the trust policy drops it and the
    rest would be usable: the domain is not wholly hosted here."""
    records = {**HOSTED_SRV, "_submissions": ["0 1 465 smtp.elsewhere.example"]}
    decision, derived = decide(D, answers(srv=records), POLICY)
    assert decision.kind is Kind.NOT_SERVED
    assert derived is not None and derived.usable  # what (a) would have served, refused
    assert "_submissions._tcp names smtp.elsewhere.example" in decision.reasons[0]


def test_srv_inside_the_domain_is_not_the_operators() -> None:
    records = {
        "_imaps": ["0 1 993 mail.customer.example"],
        "_submissions": ["0 1 465 mail.customer.example"],
    }
    decision, _ = decide(D, answers(srv=records, mx=["10 mx.mail.hoster.example."]), POLICY)
    assert decision.kind is Kind.MX


def test_srv_without_outgoing_server_falls_through_to_mx() -> None:
    records = {"_imaps": ["0 1 993 imap.mail.hoster.example"]}
    decision, _ = decide(D, answers(srv=records, mx=["10 mx.mail.hoster.example."]), POLICY)
    assert decision.kind is Kind.MX
    assert decision.reasons[0].startswith("not by SRV: its SRV records give no usable")


def test_mx_at_the_operator_is_hosted_by_mx() -> None:
    decision, _ = decide(
        D, answers(mx=["20 backup.elsewhere.example.", "10 MX.Mail.Hoster.Example."]), POLICY
    )
    assert decision.kind is Kind.MX
    assert [r.rdtype for r in decision.records] == ["MX"]
    assert "mx.mail.hoster.example (preference 10)" in decision.reasons[-1]
    assert decision.ttl == 90  # the absent SRV labels' negative TTL is the smallest


def test_most_preferred_mx_elsewhere_is_not_served() -> None:
    decision, _ = decide(
        D, answers(mx=["10 mx.elsewhere.example.", "20 mx.mail.hoster.example."]), POLICY
    )
    assert decision.kind is Kind.NOT_SERVED


def test_mx_tie_is_broken_by_name() -> None:
    """Equal preference: the smallest name decides, so the answer never flips."""
    one = ["10 a.elsewhere.example.", "10 mx.mail.hoster.example."]
    two = ["10 mx.mail.hoster.example.", "10 b.mail.hoster.example."]
    assert decide(D, answers(mx=one), POLICY)[0].kind is Kind.NOT_SERVED
    assert decide(D, answers(mx=list(reversed(one))), POLICY)[0].kind is Kind.NOT_SERVED
    assert decide(D, answers(mx=two), POLICY)[0].kind is Kind.MX


@pytest.mark.parametrize(
    "exchange",
    [
        "mx.mail.hoster.example.evil.",  # text prefix, not a sub-domain
        "evilmail.hoster.example.",  # label boundary
        "mx\\.x.mail.hoster.example.",  # an escaped dot inside a label
        "mx/x.mail.hoster.example.",  # not a host name
        "mail.hoster.example.\\000.",
    ],
)
def test_mx_hosts_are_compared_as_dns_names(exchange: str) -> None:
    decision, _ = decide(D, answers(mx=[f"10 {exchange}"]), POLICY)
    assert decision.kind is Kind.NOT_SERVED


def test_bad_mx_records_are_ignored_not_trusted() -> None:
    """An exchange that is no host name is skipped; a worse-preference good one decides."""
    decision, _ = decide(
        D, answers(mx=["0 evil/.mail.hoster.example.", "10 mx.mail.hoster.example."]), POLICY
    )
    assert decision.kind is Kind.MX


def test_null_mx_is_not_served() -> None:
    decision, _ = decide(D, answers(mx=["0 ."]), POLICY)
    assert decision.kind is Kind.NOT_SERVED
    assert any("RFC 7505" in r for r in decision.reasons)


@pytest.mark.parametrize(
    ("label", "target"),
    [
        ("autoconfig", "autoconfig.hoster.example."),
        ("autodiscover", "autodiscover.hoster.example."),
        ("autoconfig", "AUTODISCOVER.hoster.example."),
        ("autoconfig", "autoconfig.hoster.net."),  # the provider's alias is its name too
    ],
)
def test_cname_to_the_providers_name_is_hosted_by_cname(label: str, target: str) -> None:
    decision, _ = decide(D, answers(mx=["10 mx.elsewhere.example."], cname={label: target}), POLICY)
    assert decision.kind is Kind.CNAME
    assert decision.records[0].name == f"{label}.{D}."


@pytest.mark.parametrize(
    "target",
    [
        "autoconfig.elsewhere.example.",
        "autoconfig.hoster.example.evil.",
        "www.hoster.example.",
        "mail.hoster.example.",
        "autoconfig\\.hoster.example.",
    ],
)
def test_cname_elsewhere_is_not_served(target: str) -> None:
    decision, _ = decide(D, answers(cname={"autoconfig": target}), POLICY)
    assert decision.kind is Kind.NOT_SERVED


def test_nxdomain_is_not_served_with_the_negative_ttl() -> None:
    """RFC 2308: an absent domain is remembered for its SOA-derived negative TTL."""
    decision, derived = decide(D, answers(negative_ttl=45), POLICY)
    assert decision.kind is Kind.NOT_SERVED and not decision.served
    assert decision.ttl == 45
    assert derived is not None and not derived.usable
    assert len(decision.reasons) == 4  # SRV, MX, two CNAMEs


@pytest.mark.parametrize(
    ("failed", "mx", "kind"),
    [
        (["_imaps"], ["10 mx.mail.hoster.example."], Kind.FAILED),  # (a) cannot be decided
        (["MX"], Status.NXDOMAIN, Kind.FAILED),
        (["autoconfig"], Status.NXDOMAIN, Kind.FAILED),
    ],
)
def test_a_failure_is_never_taken_for_absence(
    failed: list[str], mx: list[str] | Status, kind: Kind
) -> None:
    decision, _ = decide(D, answers(mx=mx, failed=failed), POLICY)
    assert decision.kind is kind and not decision.served


def test_a_failure_after_the_deciding_condition_does_not_matter() -> None:
    """SRV-hosted: a failed MX or CNAME question changes nothing; MX-hosted: neither does
    a failed CNAME; one CNAME naming the provider is enough when the other failed."""
    assert decide(D, answers(srv=HOSTED_SRV, failed=["MX"]), POLICY)[0].kind is Kind.SRV
    mx = ["10 mx.mail.hoster.example."]
    assert decide(D, answers(mx=mx, failed=["autoconfig"]), POLICY)[0].kind is Kind.MX
    cname = {"autodiscover": "autodiscover.hoster.example."}
    decision, _ = decide(D, answers(cname=cname, failed=["autoconfig"]), POLICY)
    assert decision.kind is Kind.CNAME


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10 mx.example.org.", (10, "mx.example.org")),
        ("0 .", (0, "")),
        ("65535 A.Example.", (65535, "a.example")),
        ("65536 mx.example.", None),
        ("-1 mx.example.", None),
        ("mx.example.", None),
        ("10 mx.example. extra", None),
    ],
)
def test_parse_mx(text: str, expected: tuple[int, str] | None) -> None:
    parsed = parse_mx(text)
    assert (None if parsed is None else (parsed.preference, parsed.exchange)) == expected


@pytest.mark.parametrize(
    ("domain", "ok"),
    [
        ("customer.example", True),
        ("xn--mller-kva.example", True),
        ("a.b.c.customer.test", True),
        ("localhost", False),
        ("printer.local", False),
        ("x.localhost", False),
        ("abc.onion", False),
        ("1.0.0.127.in-addr.arpa", False),
        ("router.home.arpa", False),
        ("corp.internal", False),
        ("thing.alt", False),
        ("nothing.invalid", False),
        ("com", False),
        ("under_score.example", False),
        ("192.0.2.1", False),
        ("x" * 64 + ".example", False),
    ],
)
def test_admissible_names(domain: str, ok: bool) -> None:
    """Only names that can be public mail domains are ever looked up."""
    assert (admissible(domain) == "") is ok


def server(protocol: Protocol, host: str, port: int) -> Server:
    return Server(
        protocol=protocol,
        host=host,
        port=port,
        security=Security.TLS,
        authentication=Authentication.PASSWORD_CLEARTEXT,
        username=Username.EMAILLOCALPART,
    )


OPERATOR = Provider(
    domain="hoster.example",
    display_name="Hoster",
    aliases=("hoster.net",),
    servers={
        Protocol.IMAP: (server(Protocol.IMAP, "imap.mail.hoster.example", 993),),
        Protocol.SMTP: (server(Protocol.SMTP, "smtp.mail.hoster.example", 465),),
    },
    incoming_order=(Protocol.IMAP,),
    ttl=600,
    activesync_url="https://eas.hoster.example/Microsoft-Server-ActiveSync",
)


def test_relabel_is_the_customers_own_domain_never_an_alias() -> None:
    """The provider's servers, the customer's name and login (full address by default),
    no aliases and no findings of the provider's own domain."""
    profile = POLICY.profile(D)
    servers = hosting.hosted_servers(OPERATOR, profile)
    provider = hosting.relabel(OPERATOR, D, profile, servers)
    assert provider.domain == D and provider.aliases == ()
    assert provider.display_name == "customer.example (Hoster)"
    assert provider.activesync_url == ""  # POLICY has none (the config fills the provider's)
    assert [s.username for s in provider.incoming] == [Username.EMAILADDRESS]
    assert [s.host for s in provider.outgoing] == ["smtp.mail.hoster.example"]


def test_relabelled_servers_are_shared_when_nothing_changes() -> None:
    keep = DomainProfile(display_name="x", username=Username.EMAILLOCALPART)
    same = hosting.hosted_servers(OPERATOR, keep)
    assert same[Protocol.IMAP][0] is OPERATOR.servers[Protocol.IMAP][0]
    other = hosting.hosted_servers(OPERATOR, POLICY.profile(D))
    assert other[Protocol.IMAP][0] is not OPERATOR.servers[Protocol.IMAP][0]
    assert other[Protocol.IMAP][0].username is Username.EMAILADDRESS


def test_activesync_template_names_the_domain() -> None:
    policy = HostingPolicy(
        mail_hosts=("mail.hoster.example",),
        provider="hoster.example",
        activesync_url="https://eas.hoster.example/{domain}",
    )
    assert policy.profile(D).activesync_url == "https://eas.hoster.example/customer.example"


def test_hosted_provider_keeps_the_decision_and_ttl() -> None:
    decision, _ = decide(D, answers(mx=["10 mx.mail.hoster.example."]), POLICY)
    entry = hosting.hosted(OPERATOR, decision, 42)
    assert entry.decision is decision and entry.ttl == 42 and entry.usable
    empty = hosting.unserved(decision)
    assert not empty.usable and empty.ttl == decision.ttl


# --- the budget ------------------------------------------------------------------------


def test_budget_grants_a_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    budget = Budget(4, clock=clock)
    assert [budget.take() for _ in range(4)] == [0.0] * 4
    wait = budget.take()
    assert wait == pytest.approx(0.25)
    clock.advance(0.25)
    assert budget.take() == 0.0
    assert budget.take() > 0
    clock.advance(100)  # a long pause refills to the burst, no more
    assert [budget.take() == 0.0 for _ in range(5)] == [True] * 4 + [False]


def test_budget_bounds_grants_over_any_window() -> None:
    """Over T seconds at most burst + rate * T decisions are granted, however they come."""
    clock = FakeClock()
    budget = Budget(20, clock=clock)
    granted = 0
    for _ in range(2000):  # 2000 attempts over 10 s
        granted += budget.take() == 0.0
        clock.advance(0.005)
    assert granted <= 20 + 20 * 10
    assert granted >= 20 * 10  # and the budget is not stingier than configured


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert [hosting.retry_after(w) for w in (0.01, 1.0, 1.2)] == [1, 1, 2]

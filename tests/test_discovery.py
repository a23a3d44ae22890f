"""SRV selection, trust and lint from plain records (the pure core, no DNS at all)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from autoconf.discovery import DomainProfile
from autoconf.discovery import TrustPolicy
from autoconf.discovery import autodiscover_host
from autoconf.discovery import autodiscover_question
from autoconf.discovery import derive
from autoconf.discovery import questions
from autoconf.errors import DnsUnavailableError
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import RRset
from autoconf.model import Security
from autoconf.model import SrvRecord
from autoconf.model import Status

D = "example.com"
PROFILE = DomainProfile(display_name="Example")


def srv(text: str) -> SrvRecord:
    """'0 1 993 mail.example.com' -> SrvRecord; '.' target means not offered."""
    priority, weight, port, target = text.split()
    return SrvRecord(
        priority=int(priority),
        weight=int(weight),
        port=int(port),
        target="" if target == "." else target,
    )


def answers(
    records: dict[str, Iterable[str]],
    *,
    ttl: int = 300,
    authenticated: bool = False,
    txt: dict[str, str] | None = None,
    failed: Iterable[str] = (),
) -> dict[tuple[str, str], RRset]:
    """Answers for every question of D: given labels answer, the rest are NXDOMAIN."""
    result = {}
    for name, rdtype in questions(D):
        label = name.split(".")[0]
        if label in failed:
            result[(name, rdtype)] = RRset(
                name=name, rdtype=rdtype, status=Status.FAILED, error="SERVFAIL"
            )
        elif rdtype == "SRV" and label in records:
            result[(name, rdtype)] = RRset(
                name=name,
                rdtype=rdtype,
                status=Status.ANSWER,
                ttl=ttl,
                srv=tuple(srv(r) for r in records[label]),
                authenticated=authenticated,
            )
        elif rdtype == "TXT" and txt and label in txt:
            result[(name, rdtype)] = RRset(
                name=name, rdtype=rdtype, status=Status.ANSWER, ttl=ttl, txt=(txt[label],)
            )
        else:
            result[(name, rdtype)] = RRset(name=name, rdtype=rdtype, status=Status.NXDOMAIN, ttl=60)
    return result


def provider(
    records: dict[str, Iterable[str]], policy: TrustPolicy | None = None, **kwargs: object
) -> Provider:
    return derive(D, answers(records, **kwargs), PROFILE, policy or TrustPolicy())  # type: ignore[arg-type]


def hosts(p: Provider, protocol: Protocol) -> list[tuple[str, int, str]]:
    return [(s.host, s.port, s.label) for s in p.of(protocol)]


def test_questions_are_absolute_and_bounded() -> None:
    """Ten SRV labels plus four TXT for DAV, all absolute names: no search list applies."""
    asked = questions(D)
    assert len(asked) == 14
    assert all(name.endswith(f".{D}.") for name, _ in asked)
    assert ("_submissions._tcp.example.com.", "SRV") in asked
    assert ("_caldavs._tcp.example.com.", "TXT") in asked


@pytest.mark.parametrize(
    ("records", "protocol", "expected"),
    [
        # Lowest priority first (RFC 2782).
        (
            {"_imaps": ["10 1 993 b.example.com", "0 1 993 a.example.com"]},
            Protocol.IMAP,
            [("a.example.com", 993, "_imaps"), ("b.example.com", 993, "_imaps")],
        ),
        # Same priority: heavier weight first, deterministically.
        (
            {"_imaps": ["0 10 993 light.example.com", "0 60 993 heavy.example.com"]},
            Protocol.IMAP,
            [("heavy.example.com", 993, "_imaps"), ("light.example.com", 993, "_imaps")],
        ),
        # Same priority and weight: by target name, so every request gets the same order.
        (
            {"_imaps": ["0 5 993 z.example.com", "0 5 993 m.example.com"]},
            Protocol.IMAP,
            [("m.example.com", 993, "_imaps"), ("z.example.com", 993, "_imaps")],
        ),
        # Implicit TLS beats STARTTLS at equal priority, even with a lighter weight.
        (
            {"_imap": ["0 90 143 s.example.com"], "_imaps": ["0 1 993 t.example.com"]},
            Protocol.IMAP,
            [("t.example.com", 993, "_imaps"), ("s.example.com", 143, "_imap")],
        ),
        # ...but a STARTTLS record with a better priority wins (the domain's preference).
        (
            {"_submission": ["0 1 587 s.example.com"], "_submissions": ["5 1 465 t.example.com"]},
            Protocol.SMTP,
            [("s.example.com", 587, "_submission"), ("t.example.com", 465, "_submissions")],
        ),
        # The port always comes from the record, never a default.
        (
            {"_submissions": ["0 1 2465 mail.example.com"]},
            Protocol.SMTP,
            [("mail.example.com", 2465, "_submissions")],
        ),
        # "." means not offered: the label contributes nothing.
        (
            {"_imaps": ["0 0 0 ."], "_imap": ["0 1 143 mail.example.com"]},
            Protocol.IMAP,
            [("mail.example.com", 143, "_imap")],
        ),
        ({"_pop3s": ["0 0 0 ."], "_pop3": ["0 0 0 ."]}, Protocol.POP3, []),
        # Targets are compared as given (lower case, no trailing dot) by the source.
        ({"_imaps": ["0 1 993 example.com"]}, Protocol.IMAP, [("example.com", 993, "_imaps")]),
    ],
)
def test_selection_order(
    records: dict[str, list[str]], protocol: Protocol, expected: list[tuple[str, int, str]]
) -> None:
    """Servers are ordered by priority, then implicit TLS, then weight, then name."""
    assert hosts(provider(records), protocol) == expected


def test_selection_is_independent_of_record_order() -> None:
    """Shuffled RRsets give the same provider (answers are cached and compared)."""
    records = ["0 10 993 a.example.com", "0 60 993 b.example.com", "5 1 993 c.example.com"]
    first = provider({"_imaps": records})
    second = provider({"_imaps": list(reversed(records))})
    assert first.of(Protocol.IMAP) == second.of(Protocol.IMAP)


@pytest.mark.parametrize(
    ("records", "order"),
    [
        (
            {"_imaps": ["5 1 993 m.example.com"], "_pop3s": ["0 1 995 m.example.com"]},
            (Protocol.POP3, Protocol.IMAP),
        ),
        (
            {"_imaps": ["0 1 993 m.example.com"], "_pop3s": ["0 1 995 m.example.com"]},
            (Protocol.IMAP, Protocol.POP3),
        ),  # tie: IMAP (RFC 6186 §3.4 lets us choose)
        ({"_pop3": ["0 1 110 m.example.com"]}, (Protocol.POP3,)),
        ({"_submissions": ["0 1 465 m.example.com"]}, ()),
    ],
)
def test_incoming_protocol_order(
    records: dict[str, list[str]], order: tuple[Protocol, ...]
) -> None:
    """RFC 6186 §3.4: the incoming protocol with the best priority comes first."""
    assert provider(records).incoming_order == order


@pytest.mark.parametrize(
    ("target", "policy", "authenticated", "accepted"),
    [
        ("mail.example.com", TrustPolicy(), False, True),
        ("example.com", TrustPolicy(), False, True),
        ("MAIL.EXAMPLE.COM".lower(), TrustPolicy(), False, True),
        ("mail.attacker.test", TrustPolicy(), False, False),
        ("notexample.com", TrustPolicy(), False, False),  # suffix match on labels only
        ("mail.example.com.attacker.test", TrustPolicy(), False, False),
        ("imap.provider.test", TrustPolicy(trusted_suffixes=("provider.test",)), False, True),
        ("imap.provider.test.evil", TrustPolicy(trusted_suffixes=("provider.test",)), False, False),
        ("mail.attacker.test", TrustPolicy(accept_dnssec=True), True, True),
        ("mail.attacker.test", TrustPolicy(accept_dnssec=True), False, False),
        ("mail.attacker.test", TrustPolicy(accept_dnssec=False), True, False),
    ],
)
def test_trust_policy(
    target: str, policy: TrustPolicy, authenticated: bool, accepted: bool
) -> None:
    """Out-of-domain targets are dropped unless a suffix or DNSSEC vouches for them."""
    p = provider({"_imaps": [f"0 1 993 {target}"]}, policy, authenticated=authenticated)
    assert bool(p.of(Protocol.IMAP)) is accepted
    if not accepted:
        (dropped,) = p.dropped
        assert dropped.label == "_imaps" and dropped.record.target == target
        assert "outside the domain" in dropped.reason


def test_dropped_records_are_reported_not_silent() -> None:
    """Every record that is not used appears in ``dropped`` with its reason."""
    p = provider(
        {
            "_imaps": ["0 1 993 evil.test", "0 1 993 mail.example.com"],
            "_imap": ["0 0 0 ."],
            "_pop3s": ["0 1 0 mail.example.com"],
        }
    )
    reasons = {(d.label, d.record.target): d.reason for d in p.dropped}
    assert set(reasons) == {("_imaps", "evil.test"), ("_imap", ""), ("_pop3s", "mail.example.com")}
    assert "not offered" in reasons[("_imap", "")]
    assert "port 0" in reasons[("_pop3s", "mail.example.com")]
    assert hosts(p, Protocol.IMAP) == [("mail.example.com", 993, "_imaps")]


def test_failure_is_not_absence() -> None:
    """One failed question makes the whole derivation fail, never a partial answer."""
    with pytest.raises(DnsUnavailableError) as info:
        provider(
            {"_imap": ["0 1 143 mail.example.com"], "_submissions": ["0 1 465 m.example.com"]},
            failed=["_imaps"],
        )
    assert "_imaps._tcp.example.com." in info.value.detail


def test_dav_path_and_plain_dav_refused() -> None:
    """RFC 6764: TXT path= gives the context path; DAV without TLS is never served."""
    p = provider(
        {"_caldavs": ["0 1 443 dav.example.com"], "_carddav": ["0 1 80 dav.example.com"]},
        txt={"_caldavs": "path=/cal/"},
    )
    (caldav,) = p.of(Protocol.CALDAV)
    assert caldav.url == "https://dav.example.com/cal/"
    assert caldav.security is Security.TLS
    assert p.of(Protocol.CARDDAV) == ()
    assert any(d.label == "_carddav" and "without TLS" in d.reason for d in p.dropped)


def test_dav_url_without_path_and_with_port() -> None:
    """No TXT path: the target's well-known URI (RFC 6764 section 6), not its root; a
    non-default port is part of the URL."""
    p = provider({"_carddavs": ["0 1 8443 dav.example.com"]})
    assert p.of(Protocol.CARDDAV)[0].url == "https://dav.example.com:8443/.well-known/carddav"


@pytest.mark.parametrize(
    ("txt", "url"),
    [
        ("path=/dav/cal/", "https://dav.example.com/dav/cal/"),
        # RFC 6763 section 6.4: keys are case-insensitive.
        ("PATH=/Cal", "https://dav.example.com/Cal"),
        ("path=/~u/a%20b/;v=1", "https://dav.example.com/~u/a%20b/;v=1"),
        # Not an absolute path, or characters that would break a header or the URL:
        # ignored, and the client starts at the well-known URI.
        ("path=dav/", "https://dav.example.com/.well-known/caldav"),
        ("path=/a b", "https://dav.example.com/.well-known/caldav"),
        (
            "path=/a\r\nLocation: https://evil.example/",
            "https://dav.example.com/.well-known/caldav",
        ),
        ('path=/a"<x>', "https://dav.example.com/.well-known/caldav"),
        ("path=/a?b#c", "https://dav.example.com/.well-known/caldav"),
        ("path=/" + "a" * 300, "https://dav.example.com/.well-known/caldav"),
        ("other=/x", "https://dav.example.com/.well-known/caldav"),
    ],
)
def test_dav_context_path_validation(txt: str, url: str) -> None:
    """Only an RFC 3986 absolute path from TXT ``path=`` becomes part of the DAV URL."""
    p = provider({"_caldavs": ["0 1 443 dav.example.com"]}, txt={"_caldavs": txt})
    assert p.of(Protocol.CALDAV)[0].url == url


@pytest.mark.parametrize(
    ("txt", "codes"),
    [
        ({"_caldavs": "path=/cal/", "_carddavs": "path=/card/"}, set()),
        ({"_caldavs": "path=/cal/"}, {"dav-no-path"}),
        ({"_caldavs": "path=/a b", "_carddavs": "path=/card/"}, {"dav-bad-path", "dav-no-path"}),
    ],
)
def test_dav_lint(txt: dict[str, str], codes: set[str]) -> None:
    """DAV findings: a missing path is noted, an unusable one warned about."""
    records = {
        "_imaps": ["0 1 993 m.example.com"],
        "_submissions": ["0 1 465 m.example.com"],
        "_caldavs": ["0 1 443 dav.example.com"],
        "_carddavs": ["0 1 443 dav.example.com"],
    }
    assert {f.code for f in provider(records, txt=txt).findings} == codes


@pytest.mark.parametrize(
    ("records", "codes"),
    [
        ({"_imaps": ["0 1 993 m.example.com"], "_submissions": ["0 1 465 m.example.com"]}, set()),
        (
            {"_imaps": ["0 1 993 m.example.com"], "_submission": ["0 1 587 m.example.com"]},
            {"no-submissions", "cleartext-start"},
        ),
        (
            {"_imap": ["0 1 143 m.example.com"], "_submissions": ["0 1 465 m.example.com"]},
            {"cleartext-start"},
        ),
        ({"_submissions": ["0 1 465 m.example.com"]}, {"no-incoming"}),
        ({"_imaps": ["0 1 993 m.example.com"]}, {"no-submission"}),
        ({"_imaps": ["0 0 0 ."], "_submissions": ["0 0 0 ."]}, {"no-incoming", "no-submission"}),
    ],
)
def test_lint(records: dict[str, list[str]], codes: set[str]) -> None:
    """Findings name missing services, missing _submissions and STARTTLS-only services."""
    assert {f.code for f in provider(records).findings} == codes


def test_usable_and_ttl() -> None:
    """A provider needs incoming and outgoing servers; its TTL is the smallest seen."""
    p = provider(
        {"_imaps": ["0 1 993 m.example.com"], "_submissions": ["0 1 465 m.example.com"]}, ttl=900
    )
    assert p.usable
    assert p.ttl == 60  # the NXDOMAIN answers carried a negative TTL of 60
    assert not provider({"_imaps": ["0 1 993 m.example.com"]}).usable


def _autodiscover_srv(*records: tuple[int, int, int, str], authenticated: bool = False) -> RRset:
    return RRset(
        name="_autodiscover._tcp.example.org.",
        rdtype="SRV",
        status=Status.ANSWER,
        srv=tuple(
            SrvRecord(priority=p, weight=w, port=port, target=t) for p, w, port, t in records
        ),
        authenticated=authenticated,
    )


@pytest.mark.parametrize(
    ("records", "host"),
    [
        # [MS-OXDSCLI] 3.1.5.1: the target of the preferred record, port 443 implied.
        (((0, 0, 443, "autodiscover.example.org"),), "autodiscover.example.org"),
        (((0, 0, 443, "AutoDiscover.Example.ORG"),), "autodiscover.example.org"),
        # Another port is kept in the URL.
        (((0, 0, 8443, "ad.example.org"),), "ad.example.org:8443"),
        # Priority first, then the heavier weight; refused ones are skipped.
        (((5, 0, 443, "b.example.org"), (0, 0, 443, "a.example.org")), "a.example.org"),
        (((0, 1, 443, "light.example.org"), (0, 9, 443, "heavy.example.org")), "heavy.example.org"),
        (((0, 0, 443, "ad.attacker.test"), (1, 0, 443, "ad.example.org")), "ad.example.org"),
        (((0, 0, 443, "ad.provider.test"),), "ad.provider.test"),
        # Nothing usable: "." (not offered), port 0, outside and untrusted, not a host name
        # (a label holding "/" would move the URL's authority).
        (((0, 0, 0, ""),), ""),
        (((0, 0, 0, "ad.example.org"),), ""),
        (((0, 0, 443, "ad.attacker.test"),), ""),
        (((0, 0, 443, "attacker.test/.example.org"),), ""),
        (((0, 0, 443, "ad\\032x.example.org"),), ""),
        ((), ""),
    ],
)
def test_autodiscover_host(records: tuple[tuple[int, int, int, str], ...], host: str) -> None:
    """Where Autodiscover v2 may send Outlook, from ``_autodiscover._tcp``: only targets
    the trust policy admits, as host names."""
    policy = TrustPolicy(trusted_suffixes=("provider.test",))
    rrset = _autodiscover_srv(*records)
    assert autodiscover_host("example.org", rrset, policy) == host


@pytest.mark.parametrize("status", [Status.NXDOMAIN, Status.NODATA, Status.FAILED])
def test_autodiscover_host_without_an_answer(status: Status) -> None:
    """No answer, or a failed one, names no host (the caller falls back)."""
    rrset = RRset(name="_autodiscover._tcp.example.org.", rdtype="SRV", status=status)
    assert autodiscover_host("example.org", rrset, TrustPolicy()) == ""
    assert autodiscover_host("example.org", None, TrustPolicy()) == ""
    assert autodiscover_question("example.org") == ("_autodiscover._tcp.example.org.", "SRV")

"""Host names from DNS and their comparison as DNS names (autoconf.names, the trust policy).

Unit and property tests of the pure core; the same rules over real DNS are in
tests/test_forged_targets.py.
"""

from __future__ import annotations

import string
from urllib.parse import urlsplit

import dns.name
import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st

from autoconf.config import settings_from_mapping
from autoconf.diagnostics.checks import extra_findings
from autoconf.discovery import DomainProfile
from autoconf.discovery import TrustPolicy
from autoconf.discovery import derive
from autoconf.discovery import questions
from autoconf.errors import ConfigError
from autoconf.model import Authentication
from autoconf.model import Protocol
from autoconf.model import Provider
from autoconf.model import RRset
from autoconf.model import Security
from autoconf.model import Server
from autoconf.model import SrvRecord
from autoconf.model import Status
from autoconf.model import Username
from autoconf.names import host_name_problem
from autoconf.names import is_subdomain
from autoconf.names import shown

DOMAIN = "victim.test"


@pytest.mark.parametrize(
    "name",
    [
        "mail.victim.test",
        "MAIL.Victim.TEST",
        "a.b",
        "x",
        "mail-1.victim.test",
        "xn--strae-oqa.victim.test",  # straße
        "XN--STRAE-OQA.victim.test",
        "1.2.3.victim.test",
        "a" * 63 + ".test",
        ".".join(["a" * 63] * 3 + ["a" * 61]),  # 253 characters
        "mail.0xz",
    ],
)
def test_host_names(name: str) -> None:
    """LDH labels of 1 to 63 octets, valid A-labels, up to 253 characters in all."""
    assert host_name_problem(name) == ""


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("evil.org/.victim.test", "'/'"),
        ("evil.org#.victim.test", "'#'"),
        ("evil.org?.victim.test", "'?'"),
        ("user@evil.org.victim.test", "'@'"),
        ("evil.org:443.victim.test", "':'"),
        ("evil\\.org.victim.test", "escaped octet"),
        ("evil\\000.victim.test", "escaped octet"),
        ("a b.victim.test", "' '"),
        ("a_b.victim.test", "'_'"),
        ("stra\u00dfe.victim.test", "\\223"),
        ("a\nb.victim.test", "\\010"),
        ("-a.victim.test", "'-'"),
        ("a-.victim.test", "'-'"),
        ("ab--c.victim.test", "reserved"),
        ("xn--abc.victim.test", "A-label"),
        ("xn--ss-fia-x.victim.test", "A-label"),
        ("xn--abc-.victim.test", "'-'"),
        ("a..victim.test", "empty label"),
        (".victim.test", "empty label"),
        ("victim.test.", "empty label"),
        ("", "empty"),
        ("a" * 64 + ".test", "63"),
        (".".join(["a" * 63] * 3 + ["a" * 62]), "253"),
        ("192.0.2.1", "numeric"),
        ("mail.0x7f", "numeric"),
        ("mail.123", "numeric"),
    ],
)
def test_not_host_names(name: str, why: str) -> None:
    """Anything else is refused, and the reason says what is wrong in printable text."""
    problem = host_name_problem(name)
    assert why in problem
    assert problem.isprintable()


def test_is_subdomain_compares_labels() -> None:
    """Whole labels, case-insensitively; never a text suffix, never a non-host name."""
    assert is_subdomain("victim.test", DOMAIN)
    assert is_subdomain("Mail.VICTIM.test", DOMAIN)
    assert is_subdomain("a.b.victim.test", "VICTIM.TEST")
    assert not is_subdomain("notvictim.test", DOMAIN)
    assert not is_subdomain("victim.test.evil", DOMAIN)
    assert not is_subdomain("test", DOMAIN)
    assert not is_subdomain("evil.org/.victim.test", DOMAIN)
    assert not is_subdomain("evil\\.victim.test", DOMAIN)
    assert not is_subdomain("mail.victim.test", "victim/.test")


_LDH_LABEL = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,14}[a-zA-Z0-9])?", fullmatch=True).filter(
    lambda label: label[2:4] != "--"
)
_LETTER_LABEL = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
_HOST = st.builds(
    lambda labels, last: ".".join([*labels, last]),
    st.lists(_LDH_LABEL, max_size=4),
    _LETTER_LABEL,
)


@given(_HOST, _HOST)
def test_is_subdomain_agrees_with_dnspython(name: str, suffix: str) -> None:
    """On host names, the pure comparison is dnspython's ``Name.is_subdomain``."""
    expected = dns.name.from_text(name).is_subdomain(dns.name.from_text(suffix))
    assert is_subdomain(name, suffix) is expected
    assert is_subdomain(f"{name}.{suffix}", suffix)


@given(_HOST)
def test_host_name_is_the_whole_url_authority(name: str) -> None:
    """A host name put into a URL is that URL's host, with no port and no user part."""
    parts = urlsplit(f"https://{name}:8443/.well-known/caldav")
    assert parts.hostname == name.lower()
    assert parts.port == 8443 and parts.username is None
    assert parts.path == "/.well-known/caldav"


#: Text an attacker may put into a target's labels (any printable ASCII, a few others).
_FORGED = st.text(string.printable + "\u00e9\x00\x7f", min_size=1, max_size=40)


@given(_FORGED)
@example("evil.org/.victim.test")
@example("evil.org#.victim.test")
@example("evil.org?.victim.test")
@example("user@evil.org.victim.test")
@example("evil.org:443@.victim.test")
@example("evil.org\\.victim.test")
def test_an_accepted_target_is_a_url_inside_the_domain(prefix: str) -> None:
    """Whatever the labels in front of the domain hold: when the trust policy accepts the
    target, the URL a client is sent to has its host inside the domain, on the SRV port,
    with the context path; otherwise the record is dropped with the reason."""
    target = f"{prefix}.{DOMAIN}"
    provider = _derive({"_caldavs": [(0, 1, 443, target)]}, TrustPolicy())
    servers = provider.of(Protocol.CALDAV)
    if not servers:
        (dropped,) = provider.dropped
        assert dropped.reason
        return
    parts = urlsplit(servers[0].url)
    assert parts.hostname is not None
    assert parts.hostname == DOMAIN or parts.hostname.endswith("." + DOMAIN)
    assert parts.port is None and parts.username is None and parts.password is None
    assert parts.path == "/.well-known/caldav" and not parts.query and not parts.fragment


def _derive(
    records: dict[str, list[tuple[int, int, int, str]]],
    policy: TrustPolicy,
    *,
    authenticated: bool = False,
) -> Provider:
    answers = {}
    for name, rdtype in questions(DOMAIN):
        label = name.split(".", 1)[0]
        if rdtype == "SRV" and label in records:
            srv = tuple(
                SrvRecord(priority=p, weight=w, port=port, target=t)
                for p, w, port, t in records[label]
            )
            answers[(name, rdtype)] = RRset(
                name=name,
                rdtype=rdtype,
                status=Status.ANSWER,
                ttl=300,
                srv=srv,
                authenticated=authenticated,
            )
        else:
            answers[(name, rdtype)] = RRset(name=name, rdtype=rdtype, status=Status.NXDOMAIN)
    return derive(DOMAIN, answers, DomainProfile(display_name=DOMAIN), policy)


@pytest.mark.parametrize("accept_dnssec", [False, True])
def test_no_trust_rule_admits_a_non_host_name(accept_dnssec: bool) -> None:
    """Neither the domain, a trusted suffix nor a validated answer (AD bit) makes a
    non-host-name target usable: it is dropped, with the reason and an error finding."""
    policy = TrustPolicy(trusted_suffixes=("provider.test",), accept_dnssec=accept_dnssec)
    provider = _derive(
        {
            "_imaps": [(0, 1, 993, "evil.org/.victim.test"), (10, 1, 993, "mail.victim.test")],
            "_submissions": [(0, 1, 465, "evil.org#.provider.test")],
        },
        policy,
        authenticated=True,
    )
    assert [s.host for s in provider.of(Protocol.IMAP)] == ["mail.victim.test"]
    assert not provider.of(Protocol.SMTP)
    reasons = {d.record.target: d.reason for d in provider.dropped}
    assert set(reasons) == {"evil.org/.victim.test", "evil.org#.provider.test"}
    assert all(r.startswith("target is not a host name: label ") for r in reasons.values())
    bad = [f for f in provider.findings if f.code == "bad-target"]
    assert len(bad) == 2 and {f.severity for f in bad} == {"error"}
    assert any("'evil.org/.victim.test'" in f.message for f in bad)


def test_served_hosts_are_lower_case() -> None:
    """Case carries no meaning in DNS names (RFC 4343): one spelling reaches clients."""
    provider = _derive({"_imaps": [(0, 1, 993, "MAIL.Victim.Test")]}, TrustPolicy())
    assert [s.host for s in provider.of(Protocol.IMAP)] == ["mail.victim.test"]


def test_finding_text_is_printable() -> None:
    """A source that does not escape (unlike dnspython's presentation form) still cannot put
    control characters into a report line."""
    provider = _derive({"_imaps": [(0, 1, 993, "a\x1b[2Jb\n.victim.test")]}, TrustPolicy())
    (finding,) = [f for f in provider.findings if f.code == "bad-target"]
    assert finding.message.isprintable()
    assert shown("a\x1b\n") == "a\\027\\010"


@pytest.mark.parametrize(
    ("host", "port", "path"),
    [
        ("evil.org/.victim.test", 443, ""),
        ("evil.org:1@victim.test", 443, ""),
        ("dav.victim.test", 0, ""),
        ("dav.victim.test", 65536, ""),
        ("dav.victim.test", 443, "?x"),
        ("dav.victim.test", 443, "/a b"),
    ],
)
def test_server_is_built_only_from_valid_parts(host: str, port: int, path: str) -> None:
    """A Server (and so its URL) cannot exist with a bad host, port or path."""
    with pytest.raises(ValueError):
        Server(
            protocol=Protocol.CALDAV,
            host=host,
            port=port,
            security=Security.TLS,
            authentication=Authentication.PASSWORD_CLEARTEXT,
            username=Username.EMAILADDRESS,
            path=path,
        )


@pytest.mark.parametrize("suffix", ["192.0.2.1", "provider.123", "a_b.test", "a/b.test"])
def test_trusted_suffixes_are_host_names(suffix: str) -> None:
    """dns.trusted_target_suffixes: a suffix that no host name can end in is a config error
    (and the policy itself refuses it)."""
    with pytest.raises(ConfigError, match=r"dns\.trusted_target_suffixes"):
        settings_from_mapping(
            {"dns": {"trusted_target_suffixes": [suffix]}, "domains": {"example.org": {}}}
        )
    with pytest.raises(ValueError):
        TrustPolicy(trusted_suffixes=(suffix,))


def test_out_of_domain_refusal_names_the_fix() -> None:
    """An authenticated answer (a zone file, or AD) with dnssec trust off: the reason points
    at dns.trusted_target_suffixes, the fix that always applies (issue 13)."""
    reason = TrustPolicy().refusal("imap.hoster.test", DOMAIN, authenticated=True)
    assert "dns.trusted_target_suffixes" in reason
    assert "DNSSEC-validated" not in reason
    reason = TrustPolicy().refusal("imap.hoster.test", DOMAIN, authenticated=False)
    assert "dns.trusted_target_suffixes" in reason and "dnssec" not in reason


def test_autodiscover_target_is_linted_as_a_dns_name() -> None:
    """check's _autodiscover._tcp lint: label-wise inside/outside, and a non-host name is
    named as such rather than as "outside"."""
    provider = _derive({"_imaps": [(0, 1, 993, "mail.victim.test")]}, TrustPolicy())
    name = f"_autodiscover._tcp.{DOMAIN}."
    targets = ["autodiscover.victim.test", "evil.org/.victim.test", "notvictim.test"]
    srv = tuple(SrvRecord(priority=0, weight=0, port=443, target=t) for t in targets)
    answers = {(name, "SRV"): RRset(name=name, rdtype="SRV", status=Status.ANSWER, srv=srv)}
    found = [(f.code, f.message) for f in extra_findings(provider, answers)]
    assert [code for code, _ in found] == ["autodiscover-bad-target", "autodiscover-outside"]
    assert "evil.org/.victim.test" in found[0][1] and "notvictim.test" in found[1][1]

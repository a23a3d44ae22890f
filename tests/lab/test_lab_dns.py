"""The lab's own plumbing: an isolated namespace, Knot signing, unbound validating."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tests.lab.lab import KNOT_PORT
from tests.lab.lab import Lab
from tests.lab.lab import header_flags
from tests.lab.variants import lab_config
from tests.servers import ROOT
from tests.servers import to_toml

pytestmark = pytest.mark.lab


def test_namespace_has_only_loopback_and_no_route_out(lab: Lab) -> None:
    """Only ``lo`` exists and no route leads anywhere: traffic cannot leave the lab."""
    links = lab.ns.run("ip", "-o", "link", "show", check=True).stdout
    assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]
    assert lab.ns.run("ip", "route", "show", check=True).stdout.strip() == ""
    routes6 = lab.ns.run("ip", "-6", "route", "show", check=True).stdout.splitlines()
    assert all(" dev lo " in route for route in routes6)


def test_lab_resolver_is_private_to_the_namespace(lab: Lab) -> None:
    """Inside, /etc/resolv.conf names the lab's resolver; the host's file is untouched."""
    inside = lab.ns.run("cat", "/etc/resolv.conf", check=True).stdout
    assert inside.startswith("nameserver 127.0.0.1\n")
    assert Path("/etc/resolv.conf").read_text() != inside


@pytest.mark.parametrize(
    ("name", "authenticated"),
    [("_imaps._tcp.hosted.lab.test", True), ("_imaps._tcp.unsigned.test", False)],
)
def test_resolver_sets_ad_only_for_the_signed_zone(
    lab: Lab, name: str, authenticated: bool
) -> None:
    """unbound validates lab.test (signed by Knot, trust anchor from Knot's KSK) and sets
    AD; the unsigned zone is answered too, without AD."""
    answer = lab.dig("+dnssec", "SRV", name)
    assert "status: NOERROR" in answer
    assert ("ad" in header_flags(answer)) is authenticated


def test_knot_signs_the_lab_zone(lab: Lab) -> None:
    """Knot answers lab.test with RRSIGs (automatic signing, ECDSA P-256 = algorithm 13)."""
    answer = lab.dig("+dnssec", "SRV", "_imaps._tcp.lab.test", port=KNOT_PORT)
    assert re.search(r"\sRRSIG\s+SRV 13 ", answer), answer


@pytest.mark.parametrize(
    ("dnssec", "domain", "served"),
    [
        (True, "hosted.lab.test", True),
        (True, "unsigned.test", False),
        (False, "hosted.lab.test", False),
        (False, "unsigned.test", False),
    ],
)
def test_out_of_domain_targets_need_dnssec_trust_and_the_ad_bit(
    lab: Lab, dnssec: bool, domain: str, served: bool
) -> None:
    """``mail-autoconf check`` inside the lab, through the validating resolver: a target outside
    the domain is kept only with ``dns.dnssec = true`` AND an answer carrying AD; otherwise
    it is dropped, with the reason shown."""
    config = lab_config()
    config["dns"]["dnssec"] = dnssec
    path = lab.workdir / f"check-dnssec-{dnssec}.toml"
    path.write_text(to_toml(config))
    done = lab.ns.run(
        sys.executable, "-m", "autoconf", "check", f"alice@{domain}", "--json",
        "--config", str(path), cwd=ROOT,
    )  # fmt: skip
    report = json.loads(done.stdout)
    hosts = {server["host"] for server in report["servers"]}
    if served:
        assert hosts == {"imap.provider.test", "smtp.provider.test"}
        assert report["dropped"] == []
    else:
        assert hosts == set()
        dropped = {d["target"] for d in report["dropped"]}
        assert dropped == {"imap.provider.test", "smtp.provider.test"}
        assert all("outside" in d["reason"] for d in report["dropped"]), report["dropped"]

"""The lab's own plumbing: an isolated namespace, Knot signing, unbound validating."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.lab.lab import KNOT_PORT
from tests.lab.lab import Lab
from tests.lab.lab import header_flags

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

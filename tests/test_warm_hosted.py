"""Hosted domains stay warm across a restart (issues 15 and 17), end to end: gunicorn
exactly as shipped, a real Knot serving the hoster's zones (tests/zones/hoster.test.zone,
customers.test.zone), the settings snapshot in a real state directory.

As in test_warm.py, no assertion is about latency: whether a request waited for DNS is read
from its request log line. With two workers, which one answers a request is up to the
kernel; every assertion here holds whichever it is.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from autoconf.cache import CachePolicy
from autoconf.errors import SnapshotError
from autoconf.snapshot import FILE_NAME
from autoconf.snapshot import HOSTED
from autoconf.snapshot import LISTED
from autoconf.snapshot import Snapshot
from autoconf.snapshot import byte_bound
from autoconf.snapshot import read
from tests.knot import Knot
from tests.pox import POX_PATH
from tests.pox import XML
from tests.pox import activesync_body
from tests.pox import outlook_body
from tests.servers import Server
from tests.servers import deployed_gunicorn
from tests.test_health import metric
from tests.test_hosting import hosting_config
from tests.test_warm import request_lines
from tests.test_warm import state_env
from tests.test_warm import wait_until
from tests.test_warm import with_host
from tests.test_warm import workdir

pytestmark = pytest.mark.gunicorn

#: A customer hosted by its own SRV records (with a calendar), and one by its MX alone.
OWN_SRV = "own-srv.customers.test"
MX_ONLY = "mx-only.customers.test"
CUSTOMERS = (OWN_SRV, MX_ONLY)
#: Strangers: MX at another hoster, and a name that does not exist (NXDOMAIN).
STRANGERS = ("mx-elsewhere.customers.test", "nobody-7f3a.customers.test")
LISTED_DOMAINS = {"hoster.test", "example.test"}
FORMATS = ("thunderbird", "pox", "mobilesync", "v2", "apple", "dav")
MAX_HOSTED = 10000


def mapping(knot: Knot, *, cache: dict[str, Any] | None = None, **hosting: Any) -> Any:
    data = hosting_config(knot, **hosting)
    # A 2 s cap: everything in the snapshot has expired by the restart, so it is stale.
    data["cache"] = cache or {"floor": 0, "cap": 2}
    return data


def snapshot(directory: Path, max_hosted: int = MAX_HOSTED) -> Snapshot | None:
    try:
        return read(
            directory / FILE_NAME, now=time.time(), policy=CachePolicy(), max_hosted=max_hosted
        )
    except (FileNotFoundError, SnapshotError):
        return None


def hosted_in(directory: Path) -> set[str]:
    found = snapshot(directory)
    return {e.domain for e in found.entries if e.kind == HOSTED} if found else set()


def listed_in(directory: Path) -> set[str]:
    found = snapshot(directory)
    return {e.domain for e in found.entries if e.kind == LISTED} if found else set()


def every_format(server: Server, domain: str) -> dict[str, tuple[int, dict[str, str], bytes]]:
    """One request per client format for ``alice@domain``, and the DAV redirect."""
    address = f"alice@{domain}"
    v2 = f"/autodiscover/autodiscover.json?Email={address}&Protocol=AutodiscoverV1"
    return {
        "thunderbird": server.get(f"/mail/config-v1.1.xml?emailaddress={address}"),
        "pox": server.get(POX_PATH, {"Content-Type": XML}, outlook_body(address)),
        "mobilesync": server.get(POX_PATH, {"Content-Type": XML}, activesync_body(address)),
        "v2": server.get(v2),
        "apple": server.get(f"/mobileconfig?emailaddress={address}"),
        "dav": with_host(server, "/.well-known/caldav", domain),
    }


def warm_up(knot: Knot, state: Path, directory: Path) -> dict[str, dict[str, Any]]:
    """Answer both customers in every format and the strangers once, with two workers,
    until the snapshot holds both customers; returns the answers."""
    with deployed_gunicorn(mapping(knot), directory, env=state_env(state, workers=2)) as server:
        answers = {domain: every_format(server, domain) for domain in CUSTOMERS}
        for stranger in STRANGERS:
            status, _, _ = server.get(f"/mail/config-v1.1.xml?emailaddress=bob@{stranger}")
            assert status == 404, stranger
        wait_until(lambda: set(CUSTOMERS) <= hosted_in(state), "the hosted entries")
        # The provider's settings too: MX customers get them (its worker may write later).
        wait_until(lambda: listed_in(state) >= LISTED_DOMAINS, "the listed entries")
    for domain, formats in answers.items():
        statuses = {name: status for name, (status, _, _) in formats.items()}
        assert statuses == {**dict.fromkeys(FORMATS, 200), "dav": 307}, domain
    return answers


def wait_until_stale(state: Path) -> None:
    """Until even the newest entry is past its 2 s lifetime, so all are served stale."""
    found = snapshot(state)
    assert found is not None
    newest = max(e.fetched_at for e in found.entries)
    time.sleep(max(0.0, newest + 2.5 - time.time()))


def test_restart_during_dns_outage_answers_hosted_domains_from_the_snapshot(
    knot: Knot, tmp_path: Path
) -> None:
    """A customer hosted by its own SRV records and one by its MX, answered once; the
    service restarted with Knot stopped: both get the same answer in every format, stale
    (max-age 30, RFC 8767), no request waiting for DNS. The strangers' names, decided not
    served, never reached the file."""
    if knot.process is None:
        knot.start()
    state = tmp_path / "state"
    before = warm_up(knot, state, workdir(tmp_path, "a"))
    text = (state / FILE_NAME).read_text()
    for stranger in STRANGERS:
        assert stranger.split(".")[0] not in text, stranger
    kinds = {e["domain"]: e.get("decision") for e in json.loads(text)["entries"]}
    assert (kinds[OWN_SRV], kinds[MX_ONLY]) == ("srv", "mx")

    knot.stop()
    wait_until_stale(state)
    try:
        # Metrics of both workers, summed (prometheus-client's multiprocess mode).
        env = {**state_env(state, workers=2), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "m")}
        with deployed_gunicorn(mapping(knot), workdir(tmp_path, "b"), env=env) as second:
            during = {domain: every_format(second, domain) for domain in CUSTOMERS}
            ready = second.get("/readyz")
            metrics = second.get("/metrics")[2].decode()
            lines = request_lines(second)
    finally:
        knot.start()
    for domain in CUSTOMERS:
        for name in FORMATS:
            assert during[domain][name][0] == before[domain][name][0], (domain, name)
            assert during[domain][name][2] == before[domain][name][2], (domain, name)
        assert "max-age=30" in during[domain]["thunderbird"][1]["Cache-Control"], domain
        assert "max-age=30" in during[domain]["dav"][1]["Cache-Control"], domain
    # The customer's own calendar server, and the provider's for the MX customer.
    assert "dav.mail.hoster.test:8443/cal/own-srv/" in during[OWN_SRV]["dav"][1]["Location"]
    assert "dav.mail.hoster.test/dav/cal/" in during[MX_ONLY]["dav"][1]["Location"]
    assert ready[0] == 200
    requests = len(CUSTOMERS) * len(FORMATS)
    assert metric(metrics, "autoconf_warm_events_total", event="stale_from_snapshot") >= requests
    # Everything answered from the snapshot; no client waited for the dead DNS server.
    answered = [line["cache"] for line in lines]
    assert len(answered) == requests and set(answered) == {"stale"}, answered


def test_restart_with_changed_mail_hosts_drops_the_hosted_entries_with_one_warning(
    knot: Knot, tmp_path: Path
) -> None:
    """The snapshot says the customers are hosted, but mail_hosts changed before the
    restart (DNS down): the decisions are not made again from the file, one warning says
    so, the customers get 503 (nothing may be served, nothing can be decided) and the
    listed domains still answer from the snapshot."""
    if knot.process is None:
        knot.start()
    state = tmp_path / "state"
    warm_up(knot, state, workdir(tmp_path, "a"))
    knot.stop()
    wait_until_stale(state)
    moved = mapping(knot, mail_hosts=["mail.elsewhere.test"])
    try:
        with deployed_gunicorn(moved, workdir(tmp_path, "b"), env=state_env(state)) as second:
            customers = [
                second.get(f"/mail/config-v1.1.xml?emailaddress=alice@{domain}")[0]
                for domain in CUSTOMERS
            ]
            provider = second.get("/mail/config-v1.1.xml?emailaddress=alice@hoster.test")
            log = second.log
    finally:
        knot.start()
    assert customers == [503, 503]
    assert provider[0] == 200 and "max-age=30" in provider[1]["Cache-Control"]
    warnings = [line for line in log.splitlines() if "entries not used" in line]
    assert len(warnings) == 1, warnings
    assert "2 entries not used" in warnings[0] and "not under mail.elsewhere.test" in warnings[0]


def test_snapshot_bounds_hold_with_many_hosted_entries(running_knot: Knot, tmp_path: Path) -> None:
    """More served customers than hosting.max_decisions, two workers writing: the file
    never holds more hosted entries than that (however the workers' caches add up), keeps
    every listed domain, and stays within the byte bound."""
    state = tmp_path / "state"
    limit = 3
    served = (
        "own-srv",
        "mx-only",
        "partly-mx",
        "own-servers",
        "cname",
        "xn--mller-kva",
    )
    config = mapping(running_knot, cache={"floor": 60, "cap": 600}, max_decisions=limit)
    policy = CachePolicy(floor=60, cap=600)
    with deployed_gunicorn(config, tmp_path, env=state_env(state, workers=2)) as server:
        for label in served:
            status, _, _ = server.get(
                f"/mail/config-v1.1.xml?emailaddress=a@{label}.customers.test"
            )
            assert status == 200, label

        def full() -> bool:
            found = snapshot(state, limit)
            return found is not None and len(found.entries) == 2 + limit

        wait_until(full, "a full snapshot")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # a few more writes of either worker
            data = (state / FILE_NAME).read_bytes()
            assert len(data) <= byte_bound(policy, limit)
            entries = json.loads(data)["entries"]
            assert sum(e["kind"] == HOSTED for e in entries) <= limit
            assert {e["domain"] for e in entries if e["kind"] == LISTED} == LISTED_DOMAINS
            time.sleep(0.2)

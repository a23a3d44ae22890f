"""The shipped nginx vhost in front of the real app (tests/deploy/app_front.py): its proxy
cache keyed by mail domain, and the paths it refuses to pass on.

nginx runs the shipped vhost with only ports, paths, names and the request rate rewritten
(tests/deploy/nginx_site.py). Every answer through nginx is compared with what the app itself
answers to the very same request line and Host, so an answer served under another domain's
key shows up as a wrong body.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import AbstractContextManager
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.deploy._support import Site
from tests.deploy._support import https_request
from tests.deploy.app_front import ASKING
from tests.deploy.app_front import DOMAINS
from tests.deploy.app_front import HOSTS
from tests.deploy.app_front import POX
from tests.deploy.app_front import REFUSED
from tests.deploy.app_front import TB
from tests.deploy.app_front import TB_PATHS
from tests.deploy.app_front import Stack
from tests.deploy.app_front import app_stack
from tests.deploy.app_front import check_refused
from tests.deploy.app_front import port_of
from tests.deploy.app_front import tb
from tests.deploy.conftest import require_module
from tests.deploy.nginx_site import build_site
from tests.deploy.nginx_site import running as run_nginx
from tests.knot import Knot
from tests.processes import stop
from tests.processes import wait_for_port
from tests.zone_edit import SHORT
from tests.zone_edit import short_imaps_port

require_module("trustme")
pytestmark = pytest.mark.gunicorn

#: Query strings that name a domain in some form other than the one canonical form the
#: vhost keys on. Each must get exactly the app's own answer (mostly uncached).
HOSTILE_QUERIES = (
    "?emailaddress=",
    "?emailaddress=%20",
    "?email=x@pop.example.test",  # Thunderbird's view reads emailaddress only
    "?EmailAddress=x@pop.example.test",  # the app matches parameter names in any case
    "?EMAILADDRESS=x%40pop.example.test",
    "?emailaddress=x@pop.example.test&emailaddress=y@example.test",
    "?emailaddress=y@example.test&emailaddress=x@pop.example.test",
    "?emailaddress=&emailaddress=x@pop.example.test",
    "?emailaddress=%20&emailaddress=x@pop.example.test",
    "?emailaddress=x@pop.example.test&foo=1",
    "?foo=1&emailaddress=x@pop.example.test",
    "?emailaddress=x@POP.example.test",
    "?emailaddress=x@pop.example.test.",
    "?emailaddress=x@pop.example.test%2E",
    "?emailaddress=x@pop%2Eexample.test",
    "?emailaddress=x@pop.example.test%20",
    "?emailaddress=x@pop.example.test%0A",
    "?emailaddress=x%2540pop.example.test",
    "?emailaddress=x@example.test@pop.example.test",
    "?emailaddress=x%40example.test%40pop.example.test",
    "?emailaddress=x@example.test%26emailaddress=y@pop.example.test",
    "?emailaddress=x@example.test;emailaddress=y@pop.example.test",
    "?emailaddress=x@pop.example.test%00",
    "?emailaddress=%22x@example.test%22@pop.example.test",
    "?emailaddress=x+y@pop.example.test",
    "?emailaddress=x%2by@pop.example.test",
    "?emailaddress=" + "a" * 65 + "@pop.example.test",
    "?emailaddress=.x@pop.example.test",
    "?emailaddress=x..y@pop.example.test",
    "?emailaddress=x.@pop.example.test",
    "?emailaddress=@pop.example.test",
    "?emailaddress=x@pop..example.test",
    "?emailaddress=x@-pop.example.test",
    "?emailaddress=x@stra%C3%9Fe.example.test",
    "?emailaddress=x@Stra%C3%9Fe.Example.Test",
    "?emailaddress=x@XN--STRAE-OQA.example.test",
    "?emailaddress=x@xn--zz-.example.test",
)
#: Canonical forms (looked up in the cache) that are still worth a second look.
CANONICAL_QUERIES = (
    "",
    "?",
    "?emailaddress=x%2By@pop.example.test",
    "?emailaddress=x.y@pop.example.test",
    "?emailaddress=" + "a" * 64 + "@pop.example.test",
    "?emailaddress=o'neil~!*_-@pop.example.test",
    "?emailaddress=x@xn--strae-oqa.example.test",
    "?emailaddress=x@alias.test",
    "?emailaddress=x@hosted.example.test",
    "?emailaddress=x@unknown.test",
    "?emailaddress=x@broken.test",
    "?emailaddress=x@xn--zz.example.test",
)


@pytest.fixture(scope="module")
def nginx_bin(binary: Callable[[str], str]) -> str:
    return binary("nginx")


def nginx_front(
    nginx: str, ports: Callable[[], int]
) -> Callable[[Path, int], AbstractContextManager[Site]]:
    """The shipped vhost for the test names, proxying to the given port."""

    def front(directory: Path, app_port: int) -> AbstractContextManager[Site]:
        # One test client is one address: the shipped 10 r/s would answer it 429.
        site = build_site(directory, ports, app_port, hosts=HOSTS, rate="100000r/s")
        return run_nginx(nginx, site)

    return front


@pytest.fixture(scope="module")
def stack(
    nginx_bin: str,
    tmp_path_factory: pytest.TempPathFactory,
    ports: Callable[[], int],
    knot: Knot,
) -> Iterator[Stack]:
    """Settings live at least 300 s (cache.floor), so nothing expires during the module."""
    front = nginx_front(nginx_bin, ports)
    with app_stack(front, tmp_path_factory.mktemp("cache"), knot, floor=300) as running:
        yield running


# --- one domain never gets another's answer ---------------------------------------------------


def test_a_tenants_answer_is_never_served_for_another_domain(stack: Stack) -> None:
    """Issue 12 item 2 as reported: an answer for a customer's address at the hoster's
    name is cached; the next user of the hoster's own domain still gets the hoster's."""
    host = "autoconfig.example.test"
    tenant, _ = stack.via_front(host, tb("pop.example.test", "x"))
    again, headers = stack.via_front(host, tb("pop.example.test", "y"))
    own = stack.check(host, tb("example.test"))
    assert tenant.status == 200 and tenant.body == again.body
    assert headers["x-cache-status"] == "HIT"
    assert own in {"MISS", "HIT"}
    assert stack.via_front(host, tb("example.test"))[0].body != tenant.body
    assert stack.check(host, TB) == "HIT"  # the Host's own domain: the same entry


@pytest.mark.parametrize("path", TB_PATHS)
@pytest.mark.parametrize("host", ASKING)
def test_each_domain_is_cached_apart_and_shared_by_its_users(
    stack: Stack, host: str, path: str
) -> None:
    """Per (Host, path, mail domain) one entry, which every address at that domain hits,
    with "@" or "%40"; every answer is the app's own for that request."""
    for domain in DOMAINS:
        assert stack.check(host, tb(domain, "first", path=path)) in {"MISS", "HIT"}
        for local, at in (("bob", "@"), ("carol.smith", "%40"), ("d%2Be", "%40")):
            assert stack.check(host, tb(domain, local, at, path)) == "HIT", (domain, local)


@pytest.fixture(scope="module")
def primed(stack: Stack) -> Stack:
    """Every canonical entry of the asking hosts stored (where the app allows it)."""
    for host in ASKING:
        for path in TB_PATHS:
            for domain in DOMAINS:
                stack.check(host, tb(domain, path=path))
                assert stack.check(host, tb(domain, path=path)) == "HIT"
    return stack


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_hostile_queries_get_the_apps_own_answer(primed: Stack, query: str) -> None:
    """With every canonical entry stored, any other spelling of a query is passed to the
    app uncached and answered as the app answers it, for every asking host and path."""
    for host in ASKING:
        for path in TB_PATHS:
            for _ in range(2):  # the second time it would be stored, if it ever were
                assert primed.check(host, path + query) == "BYPASS", (host, path + query)


@pytest.mark.parametrize("query", CANONICAL_QUERIES)
def test_canonical_queries_get_the_apps_own_answer(primed: Stack, query: str) -> None:
    """The forms the vhost looks up (odd but canonical local parts, aliases, IDN A-labels,
    unknown and failing domains) get the app's own answer too, stored or not."""
    for host in ASKING:
        for path in TB_PATHS:
            for _ in range(2):
                assert primed.check(host, path + query) in {"HIT", "MISS"}, (host, path + query)


_NAMES = st.sampled_from(
    ["emailaddress", "EmailAddress", "EMAILADDRESS", "email", "Email", "e%6dailaddress", "foo"]
)
_LOCALS = st.sampled_from(["alice", "b.c", "x%2By", "x+y", "", "%20", "a..b", "%C3%A4", "a%40b"])
_ATS = st.sampled_from(["@", "%40", "%2540", "@@", "%40@"])
_DOMAIN_FORMS = st.sampled_from(
    [
        "example.test",
        "pop.example.test",
        "POP.example.test",
        "pop.example.test.",
        "pop.example.test%2E",
        "alias.test",
        "xn--strae-oqa.example.test",
        "stra%C3%9Fe.example.test",
        "XN--STRAE-OQA.EXAMPLE.TEST",
        "hosted.example.test",
        "unknown.test",
        "",
        "pop.example.test%26emailaddress%3Dx%40example.test",
        "example.test%00",
        "example.test%23pop.example.test",
    ]
)
_PARAM = st.one_of(
    st.builds(lambda n, local, a, d: f"{n}={local}{a}{d}", _NAMES, _LOCALS, _ATS, _DOMAIN_FORMS),
    st.builds(lambda n: f"{n}=", _NAMES),
    _NAMES,
)
_QUERIES = st.builds(
    lambda params, sep: "?" + sep.join(params),
    st.lists(_PARAM, min_size=1, max_size=3),
    st.sampled_from(["&", ";", "&&"]),
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    host=st.sampled_from((*ASKING, "autodiscover.example.test", "autoconfig.hosted.example.test")),
    path=st.sampled_from(TB_PATHS),
    query=_QUERIES,
)
def test_generated_queries_get_the_apps_own_answer(
    primed: Stack, host: str, path: str, query: str
) -> None:
    """Queries built from hostile pieces (cased, repeated, empty, encoded, IDN, trailing
    dots, smuggled separators), each asked twice: always the app's own answer."""
    primed.check(host, path + query)
    primed.check(host, path + query)


def test_idn_address_forms_share_the_a_label_entry_only_when_canonical(stack: Stack) -> None:
    """The A-label form is cached under the A-label; the U-label (and upper-case A-label)
    forms are passed to the app, which answers them for the same domain."""
    host = "autoconfig.example.test"
    a_label = tb("xn--strae-oqa.example.test")
    assert stack.check(host, a_label) in {"MISS", "HIT"}
    assert stack.check(host, a_label) == "HIT"
    for other in ("stra%C3%9Fe.example.test", "XN--STRAE-OQA.example.test"):
        assert stack.check(host, tb(other)) == "BYPASS"
        assert stack.via_front(host, tb(other))[0].body == stack.via_front(host, a_label)[0].body


# --- what is stored, for how long, and what clients are told ----------------------------------


def test_errors_and_per_user_answers_are_never_stored(stack: Stack) -> None:
    """404 (unknown domain, no DAV service), 400 (an A-label-shaped invalid domain), 503
    (SERVFAIL) and per-user POX answers are looked up but never stored: the app is asked
    every time. POST is not even looked up."""
    host = "autoconfig.example.test"
    cases = [
        (host, tb("unknown.test"), 404),
        (host, tb("xn--zz.example.test"), 400),
        (host, tb("broken.test"), 503),
        ("pop.example.test", "/.well-known/caldav", 404),
    ]
    for asked, target, status in cases:
        if asked == "pop.example.test":
            asked = "autoconfig.pop.example.test"
        for _ in range(2):
            got, headers = stack.via_front(asked, target)
            assert got.status == status, (target, got)
            assert headers["x-cache-status"] == "MISS", target
            assert "expires" not in headers and "no-store" in (got.cache_control or "")
    pox_host = "autodiscover.example.test"
    per_user = f"{POX}?Email=alice@example.test"
    for _ in range(2):
        assert stack.check(pox_host, per_user) == "BYPASS"
    body = b"<Autodiscover/>"
    for _ in range(2):
        status, headers, _ = https_request(
            stack.site,
            "POST",
            POX,
            host=pox_host,
            headers={"Content-Type": "text/xml"},
            body=body,
        )
        assert status == 400 and "x-cache-status" not in headers


@pytest.mark.parametrize(
    ("host", "target"),
    [
        ("autodiscover.example.test", POX),
        ("autodiscover.example.test", "/AutoDiscover/AutoDiscover.xml"),
        ("autodiscover.pop.example.test", POX),
        ("example.test", "/.well-known/caldav"),
        ("alias.test", "/.well-known/carddav"),
        ("autoconfig.example.test", "/.well-known/caldav"),
    ],
)
def test_bodiless_pox_get_and_dav_redirects_are_cached_per_host(
    stack: Stack, host: str, target: str
) -> None:
    """The other address-independent answers: stored per Host (their only domain)."""
    assert stack.check(host, target) in {"MISS", "HIT"}
    assert stack.check(host, target) == "HIT"
    assert stack.check(host, target, method="HEAD") == "HIT"


def test_hits_tell_clients_the_remaining_lifetime(stack: Stack) -> None:
    """A hit keeps Expires and the stored ETag and goes out without the stored max-age
    (nginx sends no Age): Expires minus nginx's Date is what is left, never more than the
    app granted. A private answer (another domain than the Host's) stays private."""
    host = "autoconfig.hosted.example.test"  # asked nowhere else: this is the first time
    target = tb("pop.example.test")
    first, first_headers = stack.via_front(host, target)
    hit, headers = stack.via_front(host, target)
    assert (first_headers["x-cache-status"], headers["x-cache-status"]) == ("MISS", "HIT")
    assert first.cache_control is not None and first.cache_control.startswith("private, max-age=")
    granted = int(first.cache_control.rsplit("=", 1)[1])
    assert hit.cache_control == "private"
    assert headers["expires"] == first_headers["expires"] and hit.etag == first.etag
    left = parsedate_to_datetime(headers["expires"]) - parsedate_to_datetime(headers["date"])
    assert 0 < left.total_seconds() <= granted


def test_if_none_match_is_answered_304(stack: Stack) -> None:
    """Conditional requests keep working: from a stored entry, and for an answer passed
    on uncached (nginx compares the validator itself)."""
    host = "autoconfig.example.test"
    for target in (tb("example.test"), f"{TB}?EmailAddress=alice@example.test"):
        etag = stack.direct(host, target).etag
        assert etag
        got, headers = stack.via_front(host, target, headers={"If-None-Match": etag})
        assert got.status == 304 and got.body == b"", target
        assert headers["etag"] == etag
        other, _ = stack.via_front(host, target, headers={"If-None-Match": '"other"'})
        assert other.status == 200


def test_only_the_cache_directives_described_are_active(deploy_dir: Path) -> None:
    """No proxy_cache_valid (it would store answers the app sent no lifetime for, errors
    included), and the key names Host, path and the confirmed domain and nothing else."""
    text = (deploy_dir / "nginx" / "autoconf.conf").read_text()
    active = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    assert "proxy_cache_valid" not in active
    assert 'proxy_cache_key "$host$uri|$autoconf_cache_domain";' in active
    assert "proxy_no_cache $autoconf_cache_skip $autoconf_cache_unconfirmed;" in active
    assert "proxy_cache_bypass $autoconf_cache_skip;" in active
    assert "X-Accel-Expires" not in active


def test_dns_change_reaches_clients_within_max_age(
    nginx_bin: str, tmp_path: Path, ports: Callable[[], int], knot: Knot
) -> None:
    """short.example.test has a 2 s TTL (cache.floor 0): once the max-age the first answer
    granted has passed, nginx asks the app again and the changed record is served."""
    host = f"autoconfig.{SHORT}"
    with app_stack(nginx_front(nginx_bin, ports), tmp_path, knot, floor=0) as fresh:
        first, _ = fresh.via_front(host, TB)
        assert first.status == 200 and b"<port>993</port>" in first.body
        assert first.cache_control is not None
        granted = int(first.cache_control.rsplit("=", 1)[1])
        assert granted <= 2
        with short_imaps_port(knot, 994):
            # Past the granted lifetime (whole seconds, and nginx's clock ticks in seconds).
            time.sleep(granted + 2.5)
            changed, headers = fresh.via_front(host, TB)
        assert headers["x-cache-status"] in {"MISS", "EXPIRED"}
        assert b"<port>994</port>" in changed.body


# --- a generic cache keyed without the query (the old optional micro-cache) --------------------

OLD_MICRO_CACHE = """{user}worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    access_log off;
    proxy_cache_path {tmp}/cache keys_zone=generic:1m;
    server {{
        listen 127.0.0.1:{port};
        proxy_set_header Host $host;
        location / {{
            proxy_pass http://127.0.0.1:{app};
        }}
        # Keyed on the URL without its query, honouring the app's Cache-Control.
        location ~ ^/(\\.well-known/autoconfig/)?mail/config-v1\\.1\\.xml$ {{
            proxy_cache generic;
            proxy_cache_key "$scheme://$host$uri";
            proxy_cache_valid 200 404 60s;
            proxy_cache_lock on;
            add_header X-Cache-Status $upstream_cache_status always;
            proxy_pass http://127.0.0.1:{app};
        }}
    }}
}}
"""


def test_generic_cache_keyed_without_query_stays_safe(
    nginx_bin: str, tmp_path: Path, ports: Callable[[], int], stack: Stack
) -> None:
    """The micro-cache once shipped commented out (key "$scheme://$host$uri") filled with a
    customer's answer served it to the next user of the Host's own domain. The app now
    marks answers for another domain than the Host's private, which such a cache honours:
    each user gets their own domain's answer."""
    port = ports()
    app = port_of(stack.app)
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = tmp_path / "nginx.conf"
    conf.write_text(OLD_MICRO_CACHE.format(user=user, tmp=tmp_path, port=port, app=app))
    proc = subprocess.Popen(
        [nginx_bin, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "start.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc, "nginx")
        host = "autoconfig.example.test"

        def get(target: str) -> bytes:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request("GET", target, headers={"Host": host})
                return conn.getresponse().read()
            finally:
                conn.close()

        tenant = get(tb("pop.example.test", "x"))
        alice = get(tb("example.test"))
    finally:
        stop(proc)
    assert tenant == stack.direct(host, tb("pop.example.test", "x")).body
    assert alice == stack.direct(host, tb("example.test")).body != tenant


# --- what the vhost does not pass on ----------------------------------------------------------


def test_readyz_and_metrics_answer_directly(stack: Stack) -> None:
    """Control for the refusals: gunicorn itself answers both."""
    assert stack.direct("127.0.0.1", "/readyz").status == 200
    metrics = stack.direct("127.0.0.1", "/metrics")
    assert metrics.status == 200 and b"autoconf_requests_total" in metrics.body


@pytest.mark.parametrize("target", REFUSED)
def test_readyz_and_metrics_are_refused(stack: Stack, target: str) -> None:
    """No spelling of /readyz or /metrics reaches them through the vhost."""
    check_refused(stack, target)

"""deploy/Caddyfile in front of the real app (tests/deploy/app_front.py).

Caddy 2.6 has no HTTP cache, so every answer must be the app's own for any domain, however
the query names it; and no spelling of /readyz or /metrics may get through.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.deploy._support import Site
from tests.deploy.app_front import ASKING
from tests.deploy.app_front import DOMAINS
from tests.deploy.app_front import HOSTS
from tests.deploy.app_front import REFUSED
from tests.deploy.app_front import TB
from tests.deploy.app_front import TB_PATHS
from tests.deploy.app_front import Stack
from tests.deploy.app_front import app_stack
from tests.deploy.app_front import check_refused
from tests.deploy.app_front import tb
from tests.deploy.caddy_site import build_site
from tests.deploy.caddy_site import running as run_caddy
from tests.deploy.conftest import require_module
from tests.knot import Knot

require_module("trustme")
pytestmark = pytest.mark.gunicorn


@pytest.fixture(scope="module")
def stack(
    binary: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
    ports: Callable[[], int],
    knot: Knot,
) -> Iterator[Stack]:
    caddy = binary("caddy")

    def front(directory: Path, app_port: int) -> AbstractContextManager[Site]:
        return run_caddy(caddy, build_site(directory, ports, app_port, hosts=HOSTS))

    with app_stack(front, tmp_path_factory.mktemp("caddy-app"), knot, floor=300) as running:
        yield running


def test_every_domain_gets_its_own_answer(stack: Stack) -> None:
    """Nothing is stored: a customer's answer at the hoster's name, then the hoster's own
    users, each get the app's answer for their own domain, with the internal header gone."""
    for host in ASKING:
        for path in TB_PATHS:
            for domain in (*DOMAINS, *reversed(DOMAINS)):
                assert stack.check(host, tb(domain, path=path)) == ""
            stack.check(host, path)
    first = stack.via_front("autoconfig.example.test", tb("pop.example.test"))[0]
    second = stack.via_front("autoconfig.example.test", tb("example.test"))[0]
    assert first.status == second.status == 200 and first.body != second.body


@pytest.mark.parametrize(
    "query",
    [
        "?EmailAddress=x@pop.example.test",
        "?emailaddress=x@pop.example.test&emailaddress=y@example.test",
        "?emailaddress=&emailaddress=x@pop.example.test",
        "?email=x@pop.example.test",
        "?emailaddress=x@stra%C3%9Fe.example.test",
        "?emailaddress=x@pop.example.test.",
        "?emailaddress=x%2540pop.example.test",
    ],
)
def test_odd_queries_get_the_apps_own_answer(stack: Stack, query: str) -> None:
    for host in ASKING:
        stack.check(host, TB + query)


@pytest.mark.parametrize(
    ("host", "target"),
    [
        ("autodiscover.example.test", "/autodiscover/autodiscover.xml"),
        ("example.test", "/.well-known/caldav"),
        ("alias.test", "/.well-known/carddav"),
    ],
)
def test_other_cacheable_answers_pass_unchanged(stack: Stack, host: str, target: str) -> None:
    stack.check(host, target)
    stack.check(host, target)


@pytest.mark.parametrize("target", REFUSED)
def test_readyz_and_metrics_are_refused(stack: Stack, target: str) -> None:
    """No spelling of /readyz or /metrics reaches them through Caddy."""
    check_refused(stack, target)

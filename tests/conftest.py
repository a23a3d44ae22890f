"""Shared fixtures: apps over zone files (offline) and over a real Knot DNS server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings

from autoconf import create_app
from tests.knot import Knot
from tests.knot import knotd_path

# Property tests assert behaviour, never speed (speed is the benchmark's job): a busy CI
# machine must not turn a slow first example into a failure.
settings.register_profile("autoconf", deadline=None)
settings.load_profile("autoconf")

ZONE_FILE = Path(__file__).parent / "zones" / "example.test.zone"
#: Published third-party schemas the answers are validated against, by file name, with where
#: each is published. They are not ours to vendor: put copies in a folder and name it in
#: $AUTOCONF_SCHEMAS (.ci/run does so when the CI machine has them); otherwise the tests that
#: need them skip, saying which file is missing.
SCHEMAS_ENV = "AUTOCONF_SCHEMAS"
PUBLISHED_SCHEMAS = {
    "AutodiscoverResponse.xsd": "[MS-ASCMD] 6.4; OfficeDev/Interop-TestSuites, "
    "ExchangeActiveSync/Source/Common/ActiveSyncClient/SchemaValidation/",
    "AutodiscoverMobileSync.xsd": "[MS-ASCMD] 6.2, imported by AutodiscoverResponse.xsd; "
    "OfficeDev/Interop-TestSuites, the same folder",
    "AutodiscoverRequest-mobilesync.xsd": "[MS-ASCMD] 6.3 (AutodiscoverRequest.xsd)",
    "draft-ietf-mailmaint-autoconfig.autoconfig.rng": "the RELAX NG schema of "
    "draft-ietf-mailmaint-autoconfig; autoconfig.rng in benbucksch/autoconfig-spec",
}
#: Schemas read along with the one named (xs:import).
SCHEMA_IMPORTS = {"AutodiscoverResponse.xsd": ("AutodiscoverMobileSync.xsd",)}


def published_schema(name: str) -> Path:
    """The published schema ``name`` from $AUTOCONF_SCHEMAS, or skip saying what is missing.

    A schema that imports another (AutodiscoverResponse.xsd) needs that one beside it too.
    """
    folder = os.environ.get(SCHEMAS_ENV, "")
    for wanted in (name, *SCHEMA_IMPORTS.get(name, ())):
        where = f"{wanted} ({PUBLISHED_SCHEMAS[wanted]})"
        if not folder:
            pytest.skip(f"${SCHEMAS_ENV} is not set: name a folder holding {where}")
        if not (Path(folder) / wanted).is_file():
            pytest.skip(f"${SCHEMAS_ENV}={folder} lacks {where}")
    return Path(folder) / name


#: The served test domains (all live in tests/zones/example.test.zone).
DOMAINS: dict[str, Any] = {
    "example.test": {
        "display_name": "Example Test Mail",
        "aliases": ["alias.test"],
        "activesync_url": "https://mail.example.test/Microsoft-Server-ActiveSync",
    },
    "weights.example.test": {},
    "pop.example.test": {"username": "%EMAILLOCALPART%"},
    "cname.example.test": {},
    "evil.example.test": {},
    "hosted.example.test": {},
    "starttls.example.test": {"authentication": "password-encrypted"},
    "none.example.test": {},
    "short.example.test": {},
    "xn--strae-oqa.example.test": {},
    "big.example.test": {},
    "tlspref.example.test": {},
    "poponly.example.test": {"username": "%EMAILLOCALPART%"},
    "davport.example.test": {},
    "davonly.example.test": {},
    "davbad.example.test": {},
    "davloop.example.test": {},
    "forged.example.test": {},
    "broken.test": {},
}


def config(**dns: Any) -> dict[str, Any]:
    """A configuration mapping over the test domains; ``dns`` sets [dns] keys."""
    return {"dns": {"trusted_target_suffixes": ["provider.test"], **dns}, "domains": DOMAINS}


@pytest.fixture(name="app")
def fixture_app() -> Flask:
    """The app answering from the test zone file (no network)."""
    app = create_app(config(zone_files=[str(ZONE_FILE)]))
    app.config["TESTING"] = True
    return app


@pytest.fixture(name="client")
def fixture_client(app: Flask) -> FlaskClient:
    """A test client of :func:`fixture_app`."""
    return app.test_client()


def _knot_required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("AUTOCONF_REQUIRE_KNOT") == "1"


@pytest.fixture(name="knot", scope="session")
def fixture_knot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Knot]:
    """A real Knot DNS serving tests/zones on a free loopback port, for the session.

    Skips when knotd is missing, except in CI (``CI=true``) or with
    ``AUTOCONF_REQUIRE_KNOT=1``, where a missing Knot is a failure: the real-DNS tests must
    run there.
    """
    if knotd_path() is None:
        if _knot_required():
            pytest.fail("knotd is not installed but real-DNS tests are required")
        pytest.skip("knotd (Debian package 'knot') is not installed")
    server = Knot(tmp_path_factory.mktemp("knot"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(name="running_knot")
def fixture_running_knot(knot: Knot) -> Knot:
    """The session Knot, restarted first if an earlier test stopped it."""
    if knot.process is None:
        knot.start()
    return knot


@pytest.fixture(name="knot_app")
def fixture_knot_app(running_knot: Knot) -> Flask:
    """The app answering from live DNS queries to the real Knot."""
    app = create_app(config(nameservers=[running_knot.nameserver], timeout=1.0))
    app.config["TESTING"] = True
    return app


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses Knot, so ``-m "not knot"`` deselects them."""
    for item in items:
        if {"knot", "running_knot", "knot_app"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.knot)

"""Host header validation: only served names, loopback and configured extras."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from autoconf import create_app
from tests.conftest import ZONE_FILE


@pytest.mark.parametrize(
    "host",
    [
        "autoconfig.unknown.test",
        "evil.example",
        "bad_host!",
        "autoconfig.",
        "10.0.0.1",
        "autoconfig.example.test.evil.example",
        "example.test@evil.example",
    ],
)
def test_untrusted_host_is_400(client: FlaskClient, host: str) -> None:
    """Any other Host is refused before a view runs, without echoing it."""
    response = client.get(
        "/mail/config-v1.1.xml?emailaddress=a@example.test", headers={"Host": host}
    )
    assert response.status_code == 400
    assert host.encode() not in response.data


@pytest.mark.parametrize(
    "host",
    [
        "example.test",
        "autoconfig.example.test",
        "AUTODISCOVER.EXAMPLE.TEST:443",
        "autoconfig.alias.test",
        "autoconfig.example.test.",
        "localhost:8000",
        "[::1]:80",
        "127.0.0.1",
    ],
)
def test_trusted_hosts(client: FlaskClient, host: str) -> None:
    """Served domains with their service prefixes (any case, any port) and loopback."""
    response = client.get(
        "/mail/config-v1.1.xml?emailaddress=a@example.test", headers={"Host": host}
    )
    assert response.status_code == 200


def test_probes_by_ip_are_exempt(client: FlaskClient) -> None:
    """Kubernetes probes and Prometheus address pods by IP: health endpoints answer."""
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path, headers={"Host": "10.1.2.3:8080"}).status_code == 200


def test_configured_extra_host() -> None:
    """http.trusted_hosts adds names such as a hoster's MX domain."""
    app = create_app(
        {
            "dns": {"zone_files": [str(ZONE_FILE)]},
            "http": {"trusted_hosts": ["autoconfig.mx.hoster.example"]},
            "domains": {"example.test": {}},
        }
    )
    response = app.test_client().get(
        "/mail/config-v1.1.xml?emailaddress=a@example.test",
        headers={"Host": "autoconfig.mx.hoster.example"},
    )
    assert response.status_code == 200

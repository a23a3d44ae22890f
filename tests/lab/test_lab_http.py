"""curl through the shipped nginx vhost over real TLS (lab CA) to the app under gunicorn.

Every endpoint of docs/client-matrix.md, in the casings it promises, answered
from live DNS (Knot behind a validating unbound), with the lab's names and certificate.
"""

from __future__ import annotations

import json

import pytest

from tests.lab.lab import Lab
from tests.lab.views import from_config_xml
from tests.lab.views import mobilesync_request
from tests.lab.views import pox_request

pytestmark = pytest.mark.lab

XML = "text/xml; charset=utf-8"
JSON = "application/json"
AUTOCONFIG = "https://autoconfig.lab.test"
AUTODISCOVER = "https://autodiscover.lab.test"
DAV = "https://autoconfig.dav.lab.test"
APPLE = "application/x-apple-aspen-config"
HTML = "text/html"
POX_POST = ("-H", "Content-Type: text/xml; charset=utf-8", "--data-binary")

#: (URL, curl options, status, Content-Type prefix) for each documented request.
ENDPOINTS = [
    (f"{AUTOCONFIG}/mail/config-v1.1.xml?emailaddress=alice%40lab.test", (), 200, XML),
    (f"{AUTOCONFIG}/mail/config-v1.1.xml", (), 200, XML),
    (f"{AUTOCONFIG}/.well-known/autoconfig/mail/config-v1.1.xml", (), 200, XML),
    (f"{AUTOCONFIG}/mail/config-v1.1.xml?emailaddress=bob%40unsigned.test", (), 404, ""),
    (f"{AUTOCONFIG}/mail/config-v1.1.xml?emailaddress=not-an-address", (), 400, ""),
    *[
        (f"{AUTODISCOVER}/{path}", (*POX_POST, pox_request("alice@lab.test")), 200, XML)
        for path in (
            "autodiscover/autodiscover.xml",
            "Autodiscover/Autodiscover.xml",
            "AutoDiscover/AutoDiscover.xml",
        )
    ],
    (
        f"{AUTODISCOVER}/autodiscover/autodiscover.xml",
        (*POX_POST, mobilesync_request("alice@lab.test")),
        200,  # Error 601: the lab configures no activesync_url
        XML,
    ),
    (f"{AUTODISCOVER}/autodiscover/autodiscover.xml", (), 200, XML),
    (f"{AUTODISCOVER}/autodiscover/autodiscover.xml?Email=alice%40lab.test", (), 200, XML),
    (
        f"{AUTODISCOVER}/autodiscover/autodiscover.json?Email=alice%40lab.test"
        "&Protocol=AutodiscoverV1",
        (),
        200,
        JSON,
    ),
    (
        f"{AUTODISCOVER}/Autodiscover/Autodiscover.json/v1.0/alice%40lab.test"
        "?Protocol=AutodiscoverV1",
        (),
        200,
        JSON,
    ),
    (
        f"{AUTODISCOVER}/autodiscover/autodiscover.json/v1.0/alice%40lab.test?Protocol=Ews",
        (),
        400,
        JSON,
    ),
    (f"{AUTOCONFIG}/mobileconfig?emailaddress=alice%40lab.test", (), 200, APPLE),
    (f"{AUTOCONFIG}/email.mobileconfig?email=alice%40lab.test", (), 200, APPLE),
    (f"{AUTOCONFIG}/mobileconfig", (), 400, ""),
    (f"{DAV}/.well-known/caldav", (), 307, ""),
    (f"{DAV}/.well-known/carddav", ("-X", "PROPFIND"), 307, ""),
    (f"{AUTOCONFIG}/.well-known/caldav", (), 404, ""),
    (f"{AUTOCONFIG}/", (), 200, HTML),
    (f"{AUTOCONFIG}/?address=alice%40dav.lab.test", (), 200, HTML),
    # An unknown domain whose DNS says NXDOMAIN (the lab runs with [hosting] on: a name
    # the lab resolver cannot answer at all would be 503, never taken for "not served").
    (f"{AUTOCONFIG}/?address=bob%40unknown.lab.test", (), 404, ""),
    (f"{AUTOCONFIG}/healthz", (), 200, JSON),
    # Readiness and metrics are for the orchestrator and Prometheus: 404 from outside.
    (f"{AUTOCONFIG}/readyz", (), 404, ""),
    (f"{AUTOCONFIG}/metrics", (), 404, ""),
]


@pytest.mark.parametrize(("url", "options", "status", "content_type"), ENDPOINTS)
def test_documented_endpoint_over_https(
    lab: Lab, url: str, options: tuple[str, ...], status: int, content_type: str
) -> None:
    """Each documented request gets its documented status and type through the proxy,
    with HSTS from the vhost and never an authentication challenge."""
    response = lab.curl(url, "-H", "Authorization: Basic YWxpY2U6bGFiLXBhc3N3b3Jk", *options)
    assert response.status == status, response.body[:500]
    assert response.headers.get("content-type", "").startswith(content_type)
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    assert "www-authenticate" not in response.headers


@pytest.mark.parametrize("host", ["autodiscover.lab.test", "autodiscover.tls.lab.test"])
def test_autodiscover_v2_points_at_the_pox_url_on_the_lab_name(lab: Lab, host: str) -> None:
    """Autodiscover v2 hands out the https POX URL on the name the request arrived at
    (through the shipped nginx, which passes Host on): a name known to reach the service,
    whichever served domain the address is at."""
    response = lab.curl(
        f"https://{host}/autodiscover/autodiscover.json?Email=alice%40tls.lab.test"
        "&Protocol=AutodiscoverV1"
    )
    assert json.loads(response.body) == {
        "Protocol": "AutodiscoverV1",
        "Url": f"https://{host}/autodiscover/autodiscover.xml",
    }


@pytest.mark.parametrize(
    ("url", "status", "location"),
    [
        (
            "http://autoconfig.lab.test/mail/config-v1.1.xml?emailaddress=alice%40lab.test",
            301,
            f"{AUTOCONFIG}/mail/config-v1.1.xml?emailaddress=alice%40lab.test",
        ),
        (
            "http://autodiscover.lab.test/Autodiscover/Autodiscover.xml",
            302,
            f"{AUTODISCOVER}/Autodiscover/Autodiscover.xml",
        ),
    ],
)
def test_port_80_redirects_to_https(lab: Lab, url: str, status: int, location: str) -> None:
    """Port 80 only redirects (301; 302 for Outlook's Autodiscover step), and following
    the redirect ends at the app's answer over TLS."""
    first = lab.curl(url)
    assert (first.status, first.headers["location"]) == (status, location)
    followed = lab.curl(url, "-L")
    assert followed.status == 200
    assert followed.headers["content-type"] == XML


def test_http_answer_equals_https_answer(lab: Lab) -> None:
    """Thunderbird's plain-http URL ends (via the redirect) at the same document."""
    path = "/mail/config-v1.1.xml?emailaddress=alice%40lab.test"
    via_http = lab.curl(f"http://autoconfig.lab.test{path}", "-L")
    via_https = lab.curl(f"{AUTOCONFIG}{path}")
    assert from_config_xml(via_http.body) == from_config_xml(via_https.body)


def test_names_outside_the_vhost_get_nothing(lab: Lab) -> None:
    """The mail domain itself is not in the vhost: no TLS handshake (curl exit 35), and on
    port 80 the connection closes without an answer (444, curl exit 52)."""
    https = lab.ns.run("curl", "-sS", "--cacert", str(lab.ca_pem), "https://lab.test/")
    assert https.returncode == 35, https.stderr
    http = lab.ns.run("curl", "-sS", "http://lab.test/")
    assert http.returncode == 52, http.stderr


def test_logs_hold_no_address_query_or_credentials(lab: Lab) -> None:
    """After requests carrying an address, a password and Basic credentials, neither the
    proxy's nor gunicorn's logs contain any of them."""
    lab.curl(
        f"{AUTOCONFIG}/mail/config-v1.1.xml?emailaddress=secret-user%40lab.test&password=pw-7f3a",
        "-H",
        "Authorization: Basic c2VjcmV0LXVzZXI6cHctN2YzYQ==",
    )
    pox = pox_request("secret-user@lab.test")
    lab.curl(f"{AUTODISCOVER}/autodiscover/autodiscover.xml", *POX_POST, pox)
    logs = lab.logs(["autoconf.access.log", "autoconf.error.log", "gunicorn.log"])
    assert "/autodiscover/autodiscover.xml" in logs
    for secret in ("secret-user", "pw-7f3a", "c2VjcmV0LXVzZXI6cHctN2YzYQ", "emailaddress"):
        assert secret not in logs

"""deploy/Caddyfile.hosting with a real Caddy, a real gunicorn with [hosting] and a real Knot.

Caddy's on-demand TLS asks the service's /tls-ask before it obtains a certificate. The copy
under test gets free ports, a temp storage and log, the gunicorn's port, and Caddy's internal
CA instead of an ACME CA (``tls internal``: no network needed): a handshake for the
``autoconfig.`` name of a hosted customer gets a certificate for exactly that name; one for a
stranger's name, or for a customer's bare domain, gets none.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from tests.deploy.caddy_site import caddy_env as _caddy_env
from tests.deploy.caddy_site import replace as _replace
from tests.deploy.conftest import free_port
from tests.knot import Knot
from tests.processes import stop
from tests.processes import wait_for_port
from tests.servers import Server
from tests.servers import gunicorn
from tests.test_hosting import hosting_config

pytestmark = pytest.mark.gunicorn


@dataclass
class Hosting:
    https_port: int
    root_ca: Path
    app: Server
    caddy_log: Path

    def context(self) -> ssl.SSLContext:
        """Trusting only Caddy's internal root."""
        return ssl.create_default_context(cafile=str(self.root_ca))

    def handshake(self, name: str) -> x509.Certificate:
        """A TLS handshake with SNI ``name``; the certificate Caddy presented."""
        with (
            socket.create_connection(("127.0.0.1", self.https_port), timeout=30) as raw,
            self.context().wrap_socket(raw, server_hostname=name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der)

    def get(self, name: str, path: str) -> tuple[int, bytes]:
        status, _, body = self.fetch(name, path)
        return status, body

    def fetch(self, name: str, path: str) -> tuple[int, str, bytes]:
        """GET over HTTPS with SNI and Host ``name``: status, raw header block, body."""
        with (
            socket.create_connection(("127.0.0.1", self.https_port), timeout=30) as raw,
            self.context().wrap_socket(raw, server_hostname=name) as tls,
        ):
            request = f"GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n"
            tls.sendall(request.encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), head.decode("latin-1").lower(), body

    def refused(self, name: str) -> bool:
        """True when Caddy will not complete a handshake for ``name``."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", self.https_port), timeout=30) as raw:
            try:
                context.wrap_socket(raw, server_hostname=name).close()
            except (ssl.SSLError, ConnectionResetError):
                return True
        return False


def names(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return san.value.get_values_for_type(x509.DNSName)


@pytest.fixture(scope="module")
def caddy(binary: Callable[[str], str]) -> str:
    return binary("caddy")


def hosting_caddyfile(text: str, *, tmp: Path, app_port: int, http: int, https: int) -> str:
    """The shipped file with only ports, paths, the upstream and the CA changed."""
    text = _replace(
        text,
        "\temail admin@example.com\n",
        f"\temail admin@example.com\n\tadmin off\n\thttp_port {http}\n\thttps_port {https}\n"
        f"\tdefault_bind 127.0.0.1\n\tstorage file_system {{\n\t\troot {tmp / 'storage'}\n\t}}\n",
    )
    text = _replace(
        text, "ask http://127.0.0.1:8000/tls-ask", f"ask http://127.0.0.1:{app_port}/tls-ask"
    )
    text = _replace(text, "\ttls {\n\t\ton_demand\n\t}", "\ttls internal {\n\t\ton_demand\n\t}")
    text = _replace(text, "reverse_proxy 127.0.0.1:8000", f"reverse_proxy 127.0.0.1:{app_port}")
    return _replace(text, "/var/log/caddy/autoconf.access.log", str(tmp / "access.log"))


@pytest.fixture(name="site", scope="module")
def fixture_site(
    caddy: str, deploy_dir: Path, knot: Knot, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hosting]:
    if knot.process is None:  # an earlier test stopped the session's Knot
        knot.start()
    running_knot = knot
    tmp_path = tmp_path_factory.mktemp("caddy-hosting")
    http_port, https_port = free_port(), free_port()
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    with gunicorn(hosting_config(running_knot), app_dir) as app:
        app_port = int(app.url.rsplit(":", 1)[1])
        caddyfile = tmp_path / "Caddyfile"
        caddyfile.write_text(
            hosting_caddyfile(
                (deploy_dir / "Caddyfile.hosting").read_text(),
                tmp=tmp_path,
                app_port=app_port,
                http=http_port,
                https=https_port,
            )
        )
        log_path = tmp_path / "caddy.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [caddy, "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
                env=_caddy_env(tmp_path),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(https_port, process, "caddy")
            root = tmp_path / "storage" / "pki" / "authorities" / "local" / "root.crt"
            assert root.exists(), log_path.read_text()[-2000:]
            yield Hosting(https_port, root, app, log_path)
        finally:
            stop(process)


def test_caddy_validates_and_formats_the_hosting_file(
    caddy: str, deploy_dir: Path, tmp_path: Path
) -> None:
    path = deploy_dir / "Caddyfile.hosting"
    result = subprocess.run(
        [caddy, "validate", "--config", str(path), "--adapter", "caddyfile"],
        env=_caddy_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    formatted = subprocess.run(
        [caddy, "fmt", str(path)], capture_output=True, text=True, timeout=60
    )
    assert formatted.stdout == path.read_text()


def test_certificates_only_for_served_names(site: Hosting) -> None:
    """A hosted customer's autoconfig./autodiscover. name and the provider's get a
    certificate for exactly that name from Caddy's internal CA; a stranger's name, a
    customer that is not hosted here, and a customer's bare domain get none."""
    for name in (
        "autoconfig.mx-only.customers.test",
        "autodiscover.own-srv.customers.test",
        "autoconfig.cname.customers.test",
        "autoconfig.hoster.test",
    ):
        assert names(site.handshake(name)) == [name]
    refused = (
        "autoconfig.gone.customers.test",
        "autoconfig.mx-elsewhere.customers.test",
        "mx-only.customers.test",
        "www.mx-only.customers.test",
        "autoconfig.printer.local",
    )
    for name in refused:
        assert site.refused(name), name
    # Caddy asked the service every time, and the service said no (gunicorn writes its
    # access line after the answer, so the last one may land a moment later).
    deadline = time.monotonic() + 10
    while site.app.log.count('"GET /tls-ask" 404') < len(refused):
        assert time.monotonic() < deadline, site.app.log
        time.sleep(0.05)


def test_hosted_customer_is_answered_through_caddy(site: Hosting) -> None:
    """Thunderbird at the customer's own autoconfig name, and at the provider's (its MX
    fallback), gets the customer's document through the certificate Caddy obtained."""
    status, body = site.get(
        "autoconfig.mx-only.customers.test",
        "/mail/config-v1.1.xml?emailaddress=a@mx-only.customers.test",
    )
    assert status == 200 and b"<domain>mx-only.customers.test</domain>" in body
    status, body = site.get(
        "autoconfig.hoster.test", "/mail/config-v1.1.xml?emailaddress=a@mx-only.customers.test"
    )
    assert status == 200 and b"<domain>mx-only.customers.test</domain>" in body


def test_tls_ask_is_not_public(site: Hosting) -> None:
    """Through Caddy, /tls-ask is Caddy's own 404 (no header of the app's answers), while
    any other path is the app's."""
    status, head, body = site.fetch(
        "autoconfig.hoster.test", "/tls-ask?domain=autoconfig.hoster.test"
    )
    assert (status, body) == (404, b"")
    assert "cache-control" not in head, head  # every answer of the app has one
    status, head, _ = site.fetch("autoconfig.hoster.test", "/mail/config-v1.1.xml")
    assert status == 200 and "cache-control" in head


def _block(text: str, opening: str) -> str:
    """The block that starts at the line ``opening`` (tab-indented Caddyfile), to its brace."""
    start = text.index(opening)
    indent = text[text.rindex("\n", 0, start) + 1 : start]
    end = text.index(f"\n{indent}}}\n", start)
    return text[start:end]


def test_hosting_file_shares_the_hardening_of_the_caddyfile() -> None:
    """The parts the two Caddyfiles must agree on are written the same in both: the log
    filter that keeps addresses and credentials out of the access log, the paths refused at
    the edge, and what is stripped on the way to and from the app."""
    deploy = Path(__file__).resolve().parents[2] / "deploy"
    plain = (deploy / "Caddyfile").read_text()
    hosting = (deploy / "Caddyfile.hosting").read_text()
    for opening in ("(autoconf_log_fields) {", "reverse_proxy 127.0.0.1:8000 {"):
        assert _block(hosting, opening) == _block(plain, opening), opening
    internal = [line for line in plain.splitlines() if "@internal" in line]
    assert len(internal) == 2
    assert all(line in hosting.splitlines() for line in internal)
    assert "tls-ask" in internal[0]

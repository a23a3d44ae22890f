"""Signed profiles: CMS SignedData verified by openssl against a test CA, and the
start-up checks of ``[mobileconfig]`` signing keys."""

from __future__ import annotations

import plistlib
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7
from flask import Flask

from autoconf import create_app
from autoconf.config import load_settings
from autoconf.config import settings_from_mapping
from autoconf.errors import ConfigError
from tests import binaries
from tests.conftest import config
from tests.knot import Knot

ADDRESS = "alice@example.test"


@dataclass(frozen=True, kw_only=True)
class Pki:
    """A test CA with an intermediate and a signing certificate below it, as files."""

    ca: Path
    cert: Path
    key: Path
    chain: Path
    other_key: Path


def _pki(directory: Path, key_type: trustme.KeyType) -> Pki:
    root = trustme.CA(key_type=key_type)
    intermediate = root.create_child_ca(key_type=key_type)
    leaf = intermediate.issue_cert("profiles.example.test", key_type=key_type)
    stranger = trustme.CA(key_type=key_type).issue_cert("x.example.test", key_type=key_type)
    pki = Pki(
        ca=directory / "ca.pem",
        cert=directory / "cert.pem",
        key=directory / "key.pem",
        chain=directory / "chain.pem",
        other_key=directory / "other-key.pem",
    )
    root.cert_pem.write_to_path(str(pki.ca))
    leaf.cert_chain_pems[0].write_to_path(str(pki.cert))
    intermediate.cert_pem.write_to_path(str(pki.chain))
    leaf.private_key_pem.write_to_path(str(pki.key))
    stranger.private_key_pem.write_to_path(str(pki.other_key))
    return pki


@pytest.fixture(
    name="pki", scope="module", params=[trustme.KeyType.ECDSA, trustme.KeyType.RSA], ids=str
)
def fixture_pki(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Certificates of both key types cryptography can sign CMS with (made once: RSA key
    generation is slow)."""
    return _pki(tmp_path_factory.mktemp("pki"), request.param)


def _settings(knot: Knot, **mobileconfig: Any) -> dict[str, Any]:
    return {
        **config(nameservers=[knot.nameserver], timeout=1.0),
        "mobileconfig": {key: str(value) for key, value in mobileconfig.items()},
    }


@pytest.fixture(name="signing_app")
def fixture_signing_app(running_knot: Knot, pki: Pki) -> Flask:
    """An app that signs profiles with the test PKI's leaf, sending the intermediate."""
    return create_app(
        _settings(running_knot, sign_cert=pki.cert, sign_key=pki.key, sign_chain=pki.chain)
    )


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    openssl = binaries.require("openssl")
    return subprocess.run([openssl, *map(str, args)], capture_output=True, timeout=30)


def _verify(signed: Path, ca: Path, out: Path) -> subprocess.CompletedProcess[bytes]:
    # -purpose any: the signer is a TLS certificate (no emailProtection usage); Apple
    # devices accept those for profiles, openssl's S/MIME default would not.
    return _openssl(
        "cms", "-verify", "-inform", "DER", "-in", signed, "-CAfile", ca,
        "-purpose", "any", "-out", out,
    )  # fmt: skip


def test_signed_profile_verifies_and_holds_the_unsigned_plist(
    signing_app: Flask, running_knot: Knot, pki: Pki, tmp_path: Path
) -> None:
    """The download is DER CMS SignedData that openssl verifies against the test root
    (through the intermediate sent along); its content is byte-for-byte the unsigned
    profile, with the SRV-derived servers."""
    response = signing_app.test_client().get(f"/mobileconfig?emailaddress={ADDRESS}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-apple-aspen-config"
    assert not response.data.startswith(b"<?xml")
    signed = tmp_path / "signed.mobileconfig"
    signed.write_bytes(response.data)
    result = _verify(signed, pki.ca, tmp_path / "content.plist")
    assert result.returncode == 0, result.stderr.decode()
    assert b"Verification successful" in result.stderr

    unsigned_app = create_app(_settings(running_knot))
    unsigned = unsigned_app.test_client().get(f"/mobileconfig?emailaddress={ADDRESS}").data
    content = (tmp_path / "content.plist").read_bytes()
    assert content == unsigned
    mail = plistlib.loads(content)["PayloadContent"][0]
    assert mail["IncomingMailServerHostName"] == "mail.example.test"
    assert mail["OutgoingMailServerPortNumber"] == 465


def test_signature_carries_signer_and_chain(signing_app: Flask, pki: Pki) -> None:
    """The SignedData holds the signing certificate and the configured intermediate, so a
    device that trusts only the root can build the chain."""
    data = signing_app.test_client().get(f"/mobileconfig?emailaddress={ADDRESS}").data
    embedded = {c.subject for c in pkcs7.load_der_pkcs7_certificates(data)}
    expected = {
        x509.load_pem_x509_certificate(path.read_bytes()).subject for path in (pki.cert, pki.chain)
    }
    assert embedded == expected


def test_openssl_smime_extracts_the_content(signing_app: Flask, tmp_path: Path) -> None:
    """``openssl smime -verify -noverify`` returns the plist: the content is attached."""
    signed = tmp_path / "p.mobileconfig"
    signed.write_bytes(signing_app.test_client().get(f"/mobileconfig?emailaddress={ADDRESS}").data)
    result = _openssl(
        "smime", "-verify", "-inform", "DER", "-in", signed, "-noverify", "-out", tmp_path / "x"
    )
    assert result.returncode == 0, result.stderr.decode()
    assert plistlib.loads((tmp_path / "x").read_bytes())["PayloadType"] == "Configuration"


def test_tampered_profile_fails_verification(signing_app: Flask, pki: Pki, tmp_path: Path) -> None:
    """Changing the server name inside the signed message breaks the signature."""
    data = signing_app.test_client().get(f"/mobileconfig?emailaddress={ADDRESS}").data
    assert data.count(b"mail.example.test") >= 1
    tampered = tmp_path / "tampered.mobileconfig"
    tampered.write_bytes(data.replace(b"mail.example.test", b"mail.attackr.test"))
    result = _verify(tampered, pki.ca, tmp_path / "out")
    assert result.returncode != 0
    assert b"Verification failure" in result.stderr


def test_untrusted_root_fails_verification(signing_app: Flask, tmp_path: Path) -> None:
    """Against another CA the signature does not verify: the trust comes from the chain."""
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    signed = tmp_path / "p.mobileconfig"
    signed.write_bytes(signing_app.test_client().get(f"/mobileconfig?emailaddress={ADDRESS}").data)
    assert _verify(signed, other_ca, tmp_path / "out").returncode != 0


def test_signed_errors_stay_plain(signing_app: Flask) -> None:
    """Errors are never signed documents: a 400 is plain text."""
    response = signing_app.test_client().get("/mobileconfig")
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"sign_cert": "missing.pem"}, "mobileconfig.sign_cert"),
        ({"sign_key": "missing.pem"}, "mobileconfig.sign_key"),
        ({"sign_chain": "missing.pem"}, "mobileconfig.sign_chain"),
        # A key file where the certificate belongs, and the other way round.
        ({"sign_cert": "key.pem"}, "mobileconfig.sign_cert"),
        ({"sign_key": "cert.pem"}, "mobileconfig.sign_key"),
        ({"sign_chain": "key.pem"}, "mobileconfig.sign_chain"),
        # A valid key that belongs to another certificate.
        ({"sign_key": "other-key.pem"}, "mobileconfig.sign_key"),
        # Half a configuration.
        ({"sign_key": ""}, "mobileconfig.sign_cert, mobileconfig.sign_key"),
        ({"sign_cert": "", "sign_key": ""}, "mobileconfig.sign_chain"),
        ({"sign_cert": 5}, "mobileconfig.sign_cert"),
        ({"identifier_prefix": "com..x"}, "mobileconfig.identifier_prefix"),
        ({"identifier_prefix": "com.<x>"}, "mobileconfig.identifier_prefix"),
        ({"organization": ["x"]}, "mobileconfig.organization"),
        # Would make plistlib fail on every request.
        ({"organization": "Example\x01Corp"}, "mobileconfig.organization"),
        ({"sign_certificate": "cert.pem"}, "mobileconfig.sign_certificate"),
    ],
)
def test_bad_signing_configuration_stops_start_up(
    pki: Pki, change: dict[str, Any], key: str
) -> None:
    """Every mistake is found when the configuration is loaded, naming the key; relative
    paths are resolved against the configuration's folder."""
    table: dict[str, Any] = {
        "sign_cert": "cert.pem",
        "sign_key": "key.pem",
        "sign_chain": "chain.pem",
    }
    table.update(change)
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping({**config(), "mobileconfig": table}, base_dir=pki.cert.parent)
    assert caught.value.detail.startswith(key)


def test_encrypted_key_is_refused(pki: Pki, tmp_path: Path) -> None:
    """A passphrase-protected key cannot be used unattended: refused at start-up."""
    encrypted = tmp_path / "encrypted.pem"
    result = _openssl(
        "pkey", "-in", pki.key, "-aes256", "-passout", "pass:secret", "-out", encrypted
    )
    assert result.returncode == 0, result.stderr.decode()
    with pytest.raises(ConfigError, match=r"^mobileconfig\.sign_key: .* encrypted"):
        settings_from_mapping(
            {
                **config(),
                "mobileconfig": {"sign_cert": str(pki.cert), "sign_key": str(encrypted)},
            }
        )


def test_good_signing_configuration_loads(pki: Pki) -> None:
    """Relative paths next to the configuration file load; the chain is kept."""
    settings = settings_from_mapping(
        {
            **config(),
            "mobileconfig": {
                "sign_cert": "cert.pem",
                "sign_key": "key.pem",
                "sign_chain": "chain.pem",
            },
        },
        base_dir=pki.cert.parent,
    )
    signer = settings.mobileconfig.signer
    assert signer is not None
    assert len(signer.chain) == 1


def test_signing_from_environment(pki: Pki, tmp_path: Path) -> None:
    """``AUTOCONF_MOBILECONFIG__SIGN_*`` variables configure signing like the file does."""
    config_file = tmp_path / "autoconf.toml"
    config_file.write_text('[domains."example.test"]\n')
    environ = {
        "AUTOCONF_MOBILECONFIG__SIGN_CERT": str(pki.cert),
        "AUTOCONF_MOBILECONFIG__SIGN_KEY": str(pki.key),
    }
    settings = load_settings(config_file, environ=environ)
    assert settings.mobileconfig.signer is not None
    with pytest.raises(ConfigError, match=r"^mobileconfig\.sign_key"):
        load_settings(config_file, environ={**environ, "AUTOCONF_MOBILECONFIG__SIGN_KEY": "x"})

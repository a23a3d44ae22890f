"""CMS signing of configuration profiles (RFC 5652 SignedData, as Apple devices verify it).

iOS and macOS show an unsigned profile as "Unsigned"/"Not Verified"; signed with a
certificate they trust, as "Verified". The signed form is CMS SignedData (RFC 5652) with the
profile attached, DER-encoded: what ``openssl smime -sign -nodetach -outform der`` makes.

Pure module: imports neither Flask nor dnspython. Files are read and checked once, at
start-up, so a wrong path or a key that does not match the certificate stops the service
with a :class:`~autoconf.errors.ConfigError` naming the key instead of failing per request.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs7

from autoconf.errors import ConfigError

log = logging.getLogger(__name__)

#: Key types cryptography's PKCS7SignatureBuilder can sign with.
SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

#: Certificate and key files are a few KiB; refuse anything absurd before parsing it.
MAX_PEM_BYTES = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """A certificate, its private key and the intermediates sent along with signatures."""

    certificate: x509.Certificate
    key: SigningKey
    chain: tuple[x509.Certificate, ...] = ()

    def sign(self, content: bytes) -> bytes:
        """DER CMS SignedData with ``content`` attached, signed with SHA-256.

        ``Binary`` keeps the bytes exactly as given (no S/MIME canonical line endings), so
        the content a verifier extracts is byte-for-byte the unsigned profile.
        """
        builder = (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(content)
            .add_signer(self.certificate, self.key, hashes.SHA256())
        )
        for extra in self.chain:
            builder = builder.add_certificate(extra)
        return builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])


def load_signer(*, cert: Path, key: Path, chain: Path | None = None) -> Signer:
    """Read and check the PEM files named by ``[mobileconfig]``.

    :raises ConfigError: unreadable or malformed file, encrypted or unsupported key, or a
        key that does not belong to the certificate; the message names the config key.
    """
    certificate = _certificates(cert, "mobileconfig.sign_cert")[0]
    private_key = _private_key(key)
    if _spki(certificate.public_key()) != _spki(private_key.public_key()):
        raise ConfigError(
            "mobileconfig.sign_key: the key does not belong to the certificate in "
            "mobileconfig.sign_cert"
        )
    extra = _certificates(chain, "mobileconfig.sign_chain") if chain else []
    _warn_if_not_current(certificate)
    return Signer(certificate=certificate, key=private_key, chain=tuple(extra))


def _read(path: Path, where: str) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_PEM_BYTES:
        raise ConfigError(f"{where}: {path} is larger than {MAX_PEM_BYTES} bytes")
    return data


def _certificates(path: Path, where: str) -> list[x509.Certificate]:
    try:
        found = x509.load_pem_x509_certificates(_read(path, where))
    except ValueError:
        raise ConfigError(f"{where}: {path} holds no PEM certificate") from None
    return found


def _private_key(path: Path) -> SigningKey:
    where = "mobileconfig.sign_key"
    try:
        loaded = serialization.load_pem_private_key(_read(path, where), password=None)
    except TypeError:
        raise ConfigError(f"{where}: {path} is encrypted; give an unencrypted key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{where}: {path} holds no PEM private key") from None
    if not isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{where}: only RSA and EC keys can sign CMS here")
    return loaded


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _warn_if_not_current(certificate: x509.Certificate) -> None:
    # Not fatal: a profile signed with an expired certificate still installs, it is only
    # shown as unverified; refusing to start would take mail set-up down with it.
    now = datetime.datetime.now(datetime.UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        log.warning(
            "mobileconfig.sign_cert is not valid now (valid %s to %s): devices will show "
            "profiles as unverified",
            certificate.not_valid_before_utc.isoformat(),
            certificate.not_valid_after_utc.isoformat(),
        )

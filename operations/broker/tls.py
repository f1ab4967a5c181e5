"""The project-made certificate authority and broker certificate for the agency listener.

Made once per broker state directory at ``govbus broker start`` (``<state>/tls/``) and kept:
``ca.crt`` (what agencies' clients trust, ``ssl.ca.location``), ``ca.key``, and
``broker.pem`` (the broker's PKCS#8 key and certificate chain, read by Kafka as a PEM
keystore). Key files are written with mode 0600 from the start (never world-readable for an
instant). The broker certificate names ``localhost`` and the listener's IP address, which
librdkafka checks (``ssl.endpoint.identification.algorithm=https``, its default).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from base.errors import BrokerStartError

#: A local CA outlives many broker certificates; both are re-made when expired.
CA_VALID_DAYS = 3650
BROKER_VALID_DAYS = 825
#: Re-issue the broker certificate when less than this much validity is left.
RENEW_BEFORE_DAYS = 30
KEY_MODE = 0o600
DIR_MODE = 0o700
CERT_MODE = 0o644
CA_NAME = "govbus local CA"


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the agency listener's TLS material: the CA in ``dir``, the broker's key and
    chain in ``broker_dir`` (the same directory unless the broker should not see the CA key,
    as in docker-compose)."""

    dir: Path
    broker_dir: Path | None = None

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def broker_pem(self) -> Path:
        """The broker's private key followed by its certificate and the CA's (PEM keystore)."""
        return (self.broker_dir or self.dir) / "broker.pem"


def ensure_tls(
    dir: Path,
    hosts: Sequence[str],
    *,
    broker_dir: Path | None = None,
    dir_mode: int = DIR_MODE,
) -> TlsFiles:
    """Make the CA and a broker certificate naming ``localhost`` and every one of ``hosts``
    (DNS names or IP addresses) unless valid ones exist. ``dir_mode`` 0o755 lets other
    users read ``ca.crt`` (the key files stay 0600)."""
    files = TlsFiles(dir, broker_dir)
    for d in {dir, broker_dir or dir}:
        d.mkdir(parents=True, exist_ok=True)
    os.chmod(dir, dir_mode)
    now = dt.datetime.now(dt.UTC)
    if not _valid(files.ca_cert, now) or not files.ca_key.exists():
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key, now)
        _write(files.ca_key, _key_pem(ca_key), KEY_MODE)
        _write(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), CERT_MODE)
        files.broker_pem.unlink(missing_ok=True)
    names = _names(hosts)
    if (
        not _valid(files.broker_pem, now)
        or not _issued_by(files.broker_pem, files.ca_cert)
        or not names <= _named(files.broker_pem)
    ):
        _issue_broker(files, names, now)
    return files


def subject_names(path: Path) -> list[str]:
    """The DNS names and IP addresses a certificate file's first certificate names."""
    return sorted(str(n.value) for n in _named(path))


def _ca_certificate(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _names(hosts: Sequence[str]) -> set[x509.GeneralName]:
    names: set[x509.GeneralName] = {x509.DNSName("localhost")}
    for host in hosts:
        try:
            names.add(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.add(x509.DNSName(host))
    return names


def _issue_broker(files: TlsFiles, names: set[x509.GeneralName], now: dt.datetime) -> None:
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise BrokerStartError(f"{files.ca_key} is not an EC private key; delete {files.dir}")
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "govbus-broker")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=BROKER_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sorted(names, key=str)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(
        serialization.Encoding.PEM
    )
    _write(files.broker_pem, _key_pem(key) + chain, KEY_MODE)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # PKCS#8, unencrypted: Kafka's PEM keystore reads PKCS#8; the file mode protects it.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def _first_cert(path: Path) -> x509.Certificate | None:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    return certs[0] if certs else None


def _valid(path: Path, now: dt.datetime) -> bool:
    cert = _first_cert(path)
    margin = dt.timedelta(days=RENEW_BEFORE_DAYS)
    return cert is not None and cert.not_valid_after_utc - margin > now


def _named(path: Path) -> set[x509.GeneralName]:
    cert = _first_cert(path)
    if cert is None:
        return set()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return set(san)


def _issued_by(path: Path, ca_path: Path) -> bool:
    """The broker certificate was signed by the CA now in ``ca_path`` (a CA re-made by hand
    must not leave a broker certificate that no client trusts)."""
    cert, ca = _first_cert(path), _first_cert(ca_path)
    if cert is None or ca is None:
        return False
    try:
        # Checks the issuer name against the CA's subject, then the signature.
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True

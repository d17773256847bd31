"""Host certificates: self-signed, CN = chassis name (``cryptography``, not ovs-pki:
a host makes its own key, which never leaves it)."""

from __future__ import annotations

import datetime
import hashlib
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dockovn.deploy import procs

# A chassis name is an OVS system-id and a certificate CN: keep it plain.
CHASSIS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
CENTRAL = "central"
VALID_DAYS = 3650


def check_chassis_name(name: str) -> str:
    if not CHASSIS_NAME.fullmatch(name or "") or name == CENTRAL:
        raise procs.SetupError(
            f"host name {name!r}: use 1-63 letters, digits, '.', '_' or '-' (not {CENTRAL!r}); "
            "it becomes the host's chassis name and its certificate's CN")
    return name


def self_signed(chassis: str) -> tuple[bytes, bytes]:
    """(private key PEM, certificate PEM) for host ``chassis``."""
    check_chassis_name(chassis)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, chassis)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
            cert.public_bytes(serialization.Encoding.PEM))


def load(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise procs.SetupError(f"not a PEM certificate: {exc}") from None


def common_name(pem: bytes) -> str:
    names = load(pem).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise procs.SetupError("the certificate has no CN")
    return str(names[0].value)


def is_self_signed(pem: bytes) -> bool:
    cert = load(pem)
    return cert.issuer == cert.subject


def fingerprint(pem: bytes) -> str:
    """SHA-256 of the certificate's DER, hex: what a join token pins."""
    return hashlib.sha256(load(pem).public_bytes(serialization.Encoding.DER)).hexdigest()


def certificate_cn(path: str) -> str:
    """The CN of a certificate file: the chassis name OVN's RBAC expects for it."""
    try:
        with open(path, "rb") as f:
            return common_name(f.read())
    except OSError as exc:
        raise procs.SetupError(f"cannot read certificate {path}: {exc}") from None

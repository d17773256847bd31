"""Joining a host with one command, the way `docker swarm join --token` does.

A token is ``DOCKOVN-1-<CA digest>-<secret>``: the SHA-256 of the central CA's
certificate, which lets a host check it talks to the right central before it trusts
anything, and a secret the central checks (it keeps only the secret's digest, in SB).

The host makes its own key and self-signed certificate (CN = its chassis name), then:
1. fetches the central CA's certificate over TLS without trusting it yet, and refuses
   it unless its digest is the token's;
2. connects again, now verifying the central's certificate against that CA, and sends
   the secret with its certificate; the central adds it to the trusted hosts and
   answers where NB and SB are.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import ssl

from dockovn.deploy import procs
from dockovn.deploy.pki import bundle, certs, keyfiles

PORT = 6650
TOKEN = re.compile(r"DOCKOVN-1-([0-9a-f]{64})-([0-9a-f]{32})")
TIMEOUT = 15.0


class JoinError(procs.SetupError):
    pass


def make_token(ca_pem: bytes, secret: str) -> str:
    return f"DOCKOVN-1-{certs.fingerprint(ca_pem)}-{secret}"


def new_secret() -> str:
    return secrets.token_hex(16)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, digest: str | None) -> bool:
    return bool(digest) and hmac.compare_digest(secret_digest(secret), digest)


def parse_token(token: str) -> tuple[str, str]:
    """(CA digest, secret)."""
    found = TOKEN.fullmatch((token or "").strip())
    if not found:
        raise JoinError("that is not a dockovn join token (DOCKOVN-1-<64 hex>-<32 hex>): "
                        "print one on the central with `dockovn central join-token`")
    return found.group(1), found.group(2)


def token_path(pki_dir: str) -> str:
    return os.path.join(pki_dir, "join-token")


def read_token(pki_dir: str) -> str | None:
    try:
        with open(token_path(pki_dir)) as f:
            return f.read().strip() or None
    except OSError:
        return None


def save_token(pki_dir: str, token: str) -> None:
    keyfiles.write(token_path(pki_dir), token.encode() + b"\n", private=True)


def _split(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit() and not host.endswith(":"):
        return host.strip("[]"), int(port)
    return address.strip("[]"), PORT


def _post(conn: http.client.HTTPSConnection, path: str, body: dict) -> tuple[int, dict]:
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    try:
        return response.status, json.loads(data or b"{}")
    except ValueError:
        return response.status, {"Err": data.decode(errors="replace")[:200]}


def fetch_ca(address: str, digest: str) -> bytes:
    """The central CA's certificate, refused unless it is the one the token names."""
    host, port = _split(address)
    blind = ssl.create_default_context()
    blind.check_hostname, blind.verify_mode = False, ssl.CERT_NONE  # checked by digest below
    conn = http.client.HTTPSConnection(host, port, timeout=TIMEOUT, context=blind)
    try:
        conn.request("GET", "/v1/ca")
        response = conn.getresponse()
        ca_pem = response.read()
        if response.status != 200:
            raise JoinError(f"the central at {address} answered {response.status} for its CA")
    except (OSError, http.client.HTTPException) as exc:
        raise JoinError(f"cannot reach the central's join service at {host}:{port}: {exc} "
                        "(is `dockovn central start` running there?)") from None
    finally:
        conn.close()
    if certs.fingerprint(ca_pem) != digest:
        raise JoinError(f"the central at {address} is not the one this token is for: its CA's "
                        "digest differs from the token's; nothing was changed")
    return ca_pem


def request_join(address: str, token: str, chassis: str, cert_pem: bytes) -> tuple[bytes, dict]:
    """(central CA PEM, {"nb": ..., "sb": ..., "chassis": ...}) once the central trusts
    ``cert_pem`` for ``chassis``."""
    digest, secret = parse_token(token)
    ca_pem = fetch_ca(address, digest)
    host, port = _split(address)
    checked = ssl.create_default_context(cadata=ca_pem.decode())
    checked.check_hostname = False  # the CA is the central's own: what it signed is central
    # Python 3.13 checks certificates strictly by default (RFC 5280 extensions), and
    # ovs-pki's certificates lack some (the authority key identifier): the CA is already
    # pinned by its digest, so the chain is checked as OpenSSL always did.
    checked.verify_flags &= ~ssl.VERIFY_X509_STRICT
    conn = http.client.HTTPSConnection(host, port, timeout=TIMEOUT, context=checked)
    try:
        status, answer = _post(conn, "/v1/join", {"secret": secret, "chassis": chassis,
                                                  "certificate": cert_pem.decode()})
    except ssl.SSLError as exc:
        raise JoinError(f"the central at {address} presented a certificate its CA did not "
                        f"sign ({exc}); nothing was changed") from None
    except (OSError, http.client.HTTPException) as exc:
        raise JoinError(f"joining through {address}: {exc}") from None
    finally:
        conn.close()
    if status != 200:
        raise JoinError(f"the central refused the join: {answer.get('Err', status)}")
    return ca_pem, answer


def join_central(pki_dir: str, token: str, address: str,
                 chassis: str) -> tuple[bundle.Bundle, dict | None]:
    """Join as ``chassis`` and install the result in ``pki_dir``: (what was installed,
    the encrypted tunnel's settings when the central requires them: kind, network,
    address). Again on a host that joined already: its key is kept (the central answers
    the same); a key the central revoked is replaced by a new one."""
    certs.check_chassis_name(chassis)
    digest, _ = parse_token(token)
    have = bundle.installed(pki_dir)
    key_pem = cert_pem = None
    if have and have.chassis == chassis and certs.fingerprint(_read(have.files.ca)) == digest \
            and certs.is_self_signed(_read(have.files.cert)):
        key_pem, cert_pem = _read(have.files.key), _read(have.files.cert)
    if key_pem is None:
        key_pem, cert_pem = certs.self_signed(chassis)
    try:
        ca_pem, answer = request_join(address, token, chassis, cert_pem)
    except JoinError as exc:
        if "was revoked" not in str(exc):
            raise
        key_pem, cert_pem = certs.self_signed(chassis)
        ca_pem, answer = request_join(address, token, chassis, cert_pem)
    return (bundle.install(pki_dir, chassis, answer["nb"], answer["sb"], ca_pem, cert_pem,
                           key_pem), answer.get("encryption"))


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()

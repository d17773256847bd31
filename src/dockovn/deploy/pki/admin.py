"""What the operator does with identities on the central: bundles, join tokens,
revocation, and moving a central made before identities were separate.

All of it writes SB through the central's unix socket (full access), so it runs on a
central member.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from dockovn.deploy import procs
from dockovn.deploy.pki import authority, bundle, certs, join, keyfiles, trusted_hosts
from dockovn.ovn.host_trust import HostTrust
from dockovn.ovn.sb import Southbound


@contextmanager
def host_trust(sb_socket: str):
    if not os.path.exists(sb_socket):
        raise procs.SetupError(f"no Southbound DB at {sb_socket}: run this on a central "
                               "member, with the central started (`dockovn central start`)")
    sb = Southbound(f"unix:{sb_socket}", timeout=10.0)
    try:
        procs.wait_for(lambda: sb.api.tables["SB_Global"].rows, 10, "SB's SB_Global row")
        yield HostTrust(sb)
    finally:
        sb.close()


def issue_bundle(pki_dir: str, sb_socket: str, chassis: str, nb: str, sb: str) -> bytes:
    """A bundle for ``chassis`` made here (its key too), trusted from now on. Again for
    the same host: the same key and certificate."""
    certs.check_chassis_name(chassis)
    folder = os.path.join(pki_dir, "hosts")
    key_path = os.path.join(folder, f"{chassis}-privkey.pem")
    cert_path = os.path.join(folder, f"{chassis}-cert.pem")
    with host_trust(sb_socket) as trust:
        known = trust.certificates().get(chassis)
        mine = _read(cert_path)
        if mine is not None and not certs.is_self_signed(mine):
            mine = None  # from before identities were separate: issued anew
        if known and (mine is None or certs.fingerprint(known.encode()) != certs.fingerprint(mine)):
            raise procs.SetupError(f"a host named {chassis} has joined already with its own "
                                   f"key: revoke it first (`dockovn central revoke {chassis}`)")
        if mine is None:
            key_pem, mine = certs.self_signed(chassis)
            keyfiles.write(key_path, key_pem, private=True)
            keyfiles.write(cert_path, mine, private=False)
        keyfiles.restrict(key_path)
        trust.trust(chassis, mine.decode())
    return bundle.make(pki_dir, chassis, _read(key_path), mine, nb, sb)


def join_token(pki_dir: str, sb_socket: str, rotate: bool = False) -> str:
    """The join token; a new secret when ``rotate`` or when there is none yet."""
    with open(authority.ensure_ca(pki_dir), "rb") as f:
        ca_pem = f.read()
    with host_trust(sb_socket) as trust:
        token, digest = join.read_token(pki_dir), trust.join_secret_digest()
        if token and not rotate:
            _, secret = join.parse_token(token)
            if join.secret_matches(secret, digest):
                return join.make_token(ca_pem, secret)
            if digest:
                raise procs.SetupError("the join token was rotated on another central member: "
                                       "print it there, or make a new one here with --rotate")
        if digest and not rotate and not token:
            raise procs.SetupError("the join token was made on another central member: print "
                                   "it there, or make a new one here with --rotate")
        secret = join.new_secret()
        trust.set_join_secret_digest(join.secret_digest(secret))
    token = join.make_token(ca_pem, secret)
    join.save_token(pki_dir, token)
    return token


def revoke(pki_dir: str, sb_socket: str, chassis: str, timeout: float = 15.0) -> str:
    """Take ``chassis``' certificate out of the trust list (with its chassis, and a new
    join secret) and wait until this member's servers refuse it. The new token."""
    certs.check_chassis_name(chassis)
    with open(authority.ensure_ca(pki_dir), "rb") as f:
        ca_pem = f.read()
    secret = join.new_secret()
    with host_trust(sb_socket) as trust:
        pem = trust.certificates().get(chassis)
        trust.revoke(chassis, certs.fingerprint(pem.encode()) if pem else None,
                     join.secret_digest(secret))
    token = join.make_token(ca_pem, secret)
    join.save_token(pki_dir, token)
    for suffix in ("privkey", "cert"):
        path = os.path.join(pki_dir, "hosts", f"{chassis}-{suffix}.pem")
        if os.path.exists(path):
            os.unlink(path)
    if pem:
        gone = certs.fingerprint(pem.encode())
        with host_trust(sb_socket) as trust:
            procs.wait_for(lambda: gone not in trusted_hosts.fingerprints(
                trusted_hosts.current(pki_dir) or b"") and not trust.revoked_chassis_left(),
                timeout, "this member's identity service to drop the certificate and the "
                "chassis (is it running? `dockovn central status`)")
    return token


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None

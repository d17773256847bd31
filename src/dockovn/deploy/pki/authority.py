"""The central's CA (ovs-pki's ``controllerca``) and the central's certificate.

ovs-pki makes two CAs. Before identities were separate, ``switchca`` signed the
central's certificate and every host's, so any host's could pose as the central;
now ``controllerca`` signs the central's only and hosts trust only it.
"""

from __future__ import annotations

import os

from dockovn.deploy import procs
from dockovn.deploy.pki import certs, keyfiles
from dockovn.ovsdb import SslFiles

CENTRAL = certs.CENTRAL


def ca_cert(pki_dir: str) -> str:
    return os.path.join(pki_dir, "ca", "controllerca", "cacert.pem")


def _legacy_ca_cert(pki_dir: str) -> str:
    return os.path.join(pki_dir, "ca", "switchca", "cacert.pem")


def central_paths(pki_dir: str) -> SslFiles:
    return SslFiles(os.path.join(pki_dir, f"{CENTRAL}-privkey.pem"),
                    os.path.join(pki_dir, f"{CENTRAL}-cert.pem"), ca_cert(pki_dir))


def ensure_ca(pki_dir: str) -> str:
    """Make the CA if there is none; return its certificate's path."""
    if not os.path.exists(ca_cert(pki_dir)):
        os.makedirs(pki_dir, mode=0o700, exist_ok=True)
        procs.run(["ovs-pki", f"--dir={os.path.join(pki_dir, 'ca')}", "init", "--force"],
                  "creating the central's certificate authority (ovs-pki init)", timeout=120)
    for which in ("controllerca", "switchca"):
        keyfiles.restrict(os.path.join(pki_dir, "ca", which, "private", "cakey.pem"))
    return ca_cert(pki_dir)


def legacy(pki_dir: str) -> bool:
    """True when the central's certificate comes from the time hosts shared its CA."""
    files = central_paths(pki_dir)
    if not os.path.exists(files.cert):
        return False
    with open(files.cert, "rb") as f:
        cert = certs.load(f.read())
    with open(ca_cert(pki_dir), "rb") as f:
        return cert.issuer != certs.load(f.read()).subject


def central_files(pki_dir: str, renew: bool = False) -> SslFiles:
    """The central's key, certificate and CA, made on first use (``renew``: again)."""
    ensure_ca(pki_dir)
    files = central_paths(pki_dir)
    if not renew and legacy(pki_dir):
        raise procs.SetupError(
            "this central's certificate is signed by the CA its hosts share, so any host "
            "could pose as the central: run `dockovn central renew-identities` (it prints "
            "what each host runs afterwards)")
    if renew or not (os.path.exists(files.key) and os.path.exists(files.cert)):
        # -u: the CN is exactly NAME (no appended id).
        procs.run(["ovs-pki", "-u", f"--dir={os.path.join(pki_dir, 'ca')}", "req+sign", CENTRAL,
                   "controller", "--force"], "issuing the central's certificate", timeout=120,
                  cwd=pki_dir)
        request = os.path.join(pki_dir, f"{CENTRAL}-req.pem")
        if os.path.exists(request):
            os.unlink(request)
    keyfiles.restrict(files.key)
    return files

"""The central's certificate authority and the bundles it hands to hosts.

OVN's answer to "who may talk to central" is SSL with a CA (ovs-pki) and, on the
Southbound DB, role-based access: a chassis connecting with role ovn-controller
may change only the rows of the chassis named in its certificate's CN. So a
host's certificate is issued for its chassis name, and the bundle that carries it
also fixes the host's OVS system-id to that name (``host setup --bundle``).

Layout of the central's PKI folder (default ``<dbdir>/pki``)::

    ca/                 ovs-pki's CA (switchca signs every certificate)
    central-*.pem       the NB/SB servers' key and certificate
    hosts/NAME-*.pem    one key and certificate per host, kept so re-issuing is cheap

A bundle is a tar.gz of ``ca.pem``, ``cert.pem``, ``key.pem`` and ``central.json``
(the NB and SB connection strings and the chassis name).
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from dataclasses import dataclass

from dockovn.deploy import procs
from dockovn.ovsdb import SslFiles

# A chassis name is an OVS system-id and a certificate CN: keep it plain.
CHASSIS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
CENTRAL = "central"


def _ca_cert(pki_dir: str) -> str:
    return os.path.join(pki_dir, "ca", "switchca", "cacert.pem")


def _files(folder: str, name: str) -> SslFiles:
    return SslFiles(os.path.join(folder, f"{name}-privkey.pem"),
                    os.path.join(folder, f"{name}-cert.pem"), "")


def ensure_ca(pki_dir: str) -> str:
    """Make the CA if there is none; return its certificate's path."""
    if not os.path.exists(_ca_cert(pki_dir)):
        os.makedirs(pki_dir, mode=0o700, exist_ok=True)
        procs.run(["ovs-pki", f"--dir={os.path.join(pki_dir, 'ca')}", "init", "--force"],
                  "creating the central's certificate authority (ovs-pki init)", timeout=120)
    return _ca_cert(pki_dir)


def _ensure_cert(pki_dir: str, folder: str, name: str) -> SslFiles:
    ca = ensure_ca(pki_dir)
    files = _files(folder, name)
    if not (os.path.exists(files.key) and os.path.exists(files.cert)):
        os.makedirs(folder, mode=0o700, exist_ok=True)
        # -u: the CN is exactly NAME (no appended id), as OVN's RBAC compares it
        # with the chassis name.
        procs.run(["ovs-pki", "-u", f"--dir={os.path.join(pki_dir, 'ca')}", "req+sign", name,
                   "switch", "--force"], f"issuing a certificate for {name}", timeout=120,
                  cwd=folder)
    return SslFiles(files.key, files.cert, ca)


def central_files(pki_dir: str) -> SslFiles:
    """The NB/SB servers' key, certificate and CA, made on first use."""
    return _ensure_cert(pki_dir, pki_dir, CENTRAL)


def check_chassis_name(name: str) -> str:
    if not CHASSIS_NAME.fullmatch(name or "") or name == CENTRAL:
        raise procs.SetupError(
            f"host name {name!r}: use 1-63 letters, digits, '.', '_' or '-' (not {CENTRAL!r}); "
            "it becomes the host's chassis name and its certificate's CN")
    return name


def certificate_cn(path: str) -> str:
    """The CN of a certificate: the chassis name OVN's RBAC expects for it."""
    subject = procs.run(["openssl", "x509", "-in", path, "-noout", "-subject", "-nameopt",
                         "RFC2253"], f"reading the certificate {path}")
    for part in subject.removeprefix("subject=").strip().split(","):
        key, _, value = part.partition("=")
        if key.strip() == "CN":
            return value.strip()
    raise procs.SetupError(f"certificate {path} has no CN")


@dataclass(frozen=True)
class Bundle:
    chassis: str
    nb: str
    sb: str
    files: SslFiles


def issue_bundle(pki_dir: str, chassis: str, nb: str, sb: str) -> bytes:
    """A tar.gz with what host ``chassis`` needs to join: CA, its key and certificate,
    and where NB and SB are."""
    check_chassis_name(chassis)
    files = _ensure_cert(pki_dir, os.path.join(pki_dir, "hosts"), chassis)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        def add(name: str, data: bytes, mode: int) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))

        for name, path, mode in (("ca.pem", files.ca, 0o644), ("cert.pem", files.cert, 0o644),
                                 ("key.pem", files.key, 0o600)):
            with open(path, "rb") as f:
                add(name, f.read(), mode)
        add("central.json", json.dumps({"chassis": chassis, "nb": nb, "sb": sb}).encode(), 0o644)
    return out.getvalue()


def install_bundle(bundle_path: str, dest: str) -> Bundle:
    """Unpack a bundle into ``dest`` (the key readable by root only) and say what it holds."""
    try:
        with tarfile.open(bundle_path, mode="r:gz") as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    except (OSError, tarfile.TarError) as exc:
        raise procs.SetupError(f"cannot read bundle {bundle_path}: {exc}") from None
    missing = [n for n in ("ca.pem", "cert.pem", "key.pem", "central.json") if n not in members]
    if missing:
        raise procs.SetupError(f"bundle {bundle_path} lacks {', '.join(missing)}: "
                               "make it with `dockovn central issue-cert HOST`")
    meta = json.loads(members["central.json"])
    os.makedirs(dest, mode=0o700, exist_ok=True)
    paths = {}
    for name in ("ca.pem", "cert.pem", "key.pem"):
        path = os.path.join(dest, name)
        fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o600 if name == "key.pem" else 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(members[name])
        os.replace(path + ".new", path)
        paths[name] = path
    return Bundle(check_chassis_name(meta["chassis"]), meta["nb"], meta["sb"],
                  SslFiles(paths["key.pem"], paths["cert.pem"], paths["ca.pem"]))

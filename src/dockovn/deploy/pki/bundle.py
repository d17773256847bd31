"""What a host installs to talk to the central: the central CA's certificate (the only
one it trusts), its own key and certificate, and where NB and SB are.

A bundle file (`dockovn central issue-cert`) is a tar.gz of ``ca.pem``, ``cert.pem``,
``key.pem`` and ``central.json``; `dockovn host join` gets the same pieces over TLS and
makes the key on the host itself.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass

from dockovn.deploy import procs
from dockovn.deploy.pki import authority, certs, keyfiles
from dockovn.ovsdb import SslFiles


@dataclass(frozen=True)
class Bundle:
    chassis: str
    nb: str
    sb: str
    files: SslFiles


def make(pki_dir: str, chassis: str, key_pem: bytes, cert_pem: bytes, nb: str, sb: str) -> bytes:
    """The tar.gz for host ``chassis``."""
    with open(authority.ensure_ca(pki_dir), "rb") as f:
        ca_pem = f.read()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data, mode in (
                ("ca.pem", ca_pem, 0o644), ("cert.pem", cert_pem, 0o644),
                ("key.pem", key_pem, 0o600),
                ("central.json", json.dumps({"chassis": chassis, "nb": nb, "sb": sb}).encode(),
                 0o644)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def install(dest: str, chassis: str, nb: str, sb: str, ca_pem: bytes, cert_pem: bytes,
            key_pem: bytes) -> Bundle:
    """Write the host's files into ``dest`` (the key root-only whatever was there)."""
    certs.check_chassis_name(chassis)
    os.makedirs(dest, mode=0o700, exist_ok=True)
    os.chmod(dest, 0o700)
    paths = {}
    for name, data, private in (("ca.pem", ca_pem, False), ("cert.pem", cert_pem, False),
                                ("key.pem", key_pem, True)):
        paths[name] = os.path.join(dest, name)
        keyfiles.write(paths[name], data, private)
    keyfiles.write(os.path.join(dest, "central.json"),
                   json.dumps({"chassis": chassis, "nb": nb, "sb": sb}).encode(), private=False)
    return Bundle(chassis, nb, sb, SslFiles(paths["key.pem"], paths["cert.pem"], paths["ca.pem"]))


def install_file(bundle_path: str, dest: str) -> Bundle:
    """Unpack a bundle file into ``dest`` and say what it holds."""
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
    return install(dest, meta["chassis"], meta["nb"], meta["sb"], members["ca.pem"],
                   members["cert.pem"], members["key.pem"])


def installed(dest: str) -> Bundle | None:
    """What ``dest`` holds from an earlier join or bundle, if anything."""
    try:
        with open(os.path.join(dest, "central.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    files = SslFiles(*(os.path.join(dest, n) for n in ("key.pem", "cert.pem", "ca.pem")))
    if not all(os.path.exists(p) for p in (files.key, files.cert, files.ca)):
        return None
    return Bundle(meta["chassis"], meta["nb"], meta["sb"], files)

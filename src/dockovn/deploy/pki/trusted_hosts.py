"""The file the central's ovsdb-servers check client certificates against: the central
CA's certificate (never an empty file; what it signed is the central itself) and every
trusted host's self-signed certificate. ovsdb-server re-reads the file when its mtime
changes, at its next wake-up."""

from __future__ import annotations

import os

from dockovn.deploy.pki import authority, certs, keyfiles


def path(pki_dir: str) -> str:
    return os.path.join(pki_dir, "trusted-hosts.pem")


def render(ca_pem: bytes, hosts: dict[str, str]) -> bytes:
    parts = [ca_pem.strip()] + [hosts[name].strip().encode() for name in sorted(hosts)]
    return b"\n".join(parts) + b"\n"


def current(pki_dir: str) -> bytes | None:
    try:
        with open(path(pki_dir), "rb") as f:
            return f.read()
    except OSError:
        return None


def fingerprints(data: bytes) -> set[str]:
    marker = b"-----END CERTIFICATE-----"
    return {certs.fingerprint(chunk.strip() + b"\n" + marker + b"\n")
            for chunk in data.split(marker) if chunk.strip()}


def write(pki_dir: str, hosts: dict[str, str]) -> tuple[bool, bool]:
    """Bring the file up to ``hosts``: (changed, some certificate left it)."""
    with open(authority.ensure_ca(pki_dir), "rb") as f:
        wanted = render(f.read(), hosts)
    before = current(pki_dir)
    if before == wanted:
        return False, False
    keyfiles.write(path(pki_dir), wanted, private=False)
    dropped = bool(before) and bool(fingerprints(before) - fingerprints(wanted))
    return True, dropped


def ensure(pki_dir: str) -> str:
    """The file, made with no host in it if there is none yet (the service fills it)."""
    if current(pki_dir) is None:
        write(pki_dir, {})
    return path(pki_dir)

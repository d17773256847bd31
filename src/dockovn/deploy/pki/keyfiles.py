"""Writing key material: private files are 0600 whatever was at the path before."""

from __future__ import annotations

import os


def write(path: str, data: bytes, private: bool) -> None:
    """Replace ``path`` with ``data`` atomically. A leftover ``.new`` file or an older
    file of another mode changes nothing: the mode is set on the new file explicitly
    (``os.open``'s mode applies only when it creates the file)."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, mode=0o700, exist_ok=True)
    tmp = path + ".new"
    mode = 0o600 if private else 0o644
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def restrict(path: str) -> None:
    """Make an existing private file (one another tool wrote) root-only."""
    if os.path.exists(path):
        os.chmod(path, 0o600)

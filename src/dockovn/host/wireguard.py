"""This host's WireGuard device (wireguard-go: userspace, no kernel module needed):
keys, peers and what the device says of them.

Driven with `wg` (wireguard-tools) through wireguard-go's control socket
(``/var/run/wireguard/NAME.sock``): a file, so it answers from any network namespace,
also after the device itself was moved into another one.
"""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

PORT = 51820  # slot 0's; slot s listens on PORT + s
KEEPALIVE = 15  # seconds: a peer behind NAT stays reachable, and "last handshake" stays fresh


class WireGuardError(RuntimeError):
    pass


@dataclass(frozen=True)
class Peer:
    public_key: str
    endpoint: str     # the peer's underlay address and port, "192.0.2.11:51820"
    allowed_ip: str   # the peer's tunnel address: what is sent to it, what it may send


@dataclass(frozen=True)
class PeerState:
    public_key: str
    endpoint: str
    allowed_ips: str
    latest_handshake: int   # seconds since the epoch; 0: never
    received: int           # bytes
    sent: int


def port(slot: int) -> int:
    return PORT + slot


def new_private_key() -> str:
    key = X25519PrivateKey.generate()
    return base64.b64encode(key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption())).decode()


def public_key(private_key: str) -> str:
    try:
        key = X25519PrivateKey.from_private_bytes(base64.b64decode(private_key, validate=True))
    except ValueError as exc:
        raise WireGuardError(f"not a WireGuard private key: {exc}") from None
    return base64.b64encode(key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def render(private_key: str, listen_port: int, peers: list[Peer]) -> str:
    """The device's whole configuration, in `wg setconf`'s format."""
    lines = ["[Interface]", f"PrivateKey = {private_key}", f"ListenPort = {listen_port}"]
    for peer in sorted(peers, key=lambda p: p.allowed_ip):
        lines += ["", "[Peer]", f"PublicKey = {peer.public_key}", f"Endpoint = {peer.endpoint}",
                  f"AllowedIPs = {peer.allowed_ip}/32",
                  f"PersistentKeepalive = {KEEPALIVE}"]
    return "\n".join(lines) + "\n"


def _wg(*args: str, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(["wg", *args], input=stdin, capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WireGuardError(f"wg {args[0]}: {exc}") from None
    if done.returncode != 0:
        raise WireGuardError(f"wg {' '.join(args[:2])}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def set_port(device: str, listen_port: int) -> None:
    """The device's UDP port (its key and peers are left as they are)."""
    _wg("set", device, "listen-port", str(listen_port))


def sync(device: str, private_key: str, listen_port: int, peers: list[Peer]) -> None:
    """Make the device's keys and peers exactly these. `wg syncconf` changes only what
    differs: the sessions of peers that stay are kept (no packet lost)."""
    _wg("syncconf", device, "/dev/stdin", stdin=render(private_key, listen_port, peers))


def show(device: str) -> list[PeerState]:
    """The device's peers as it sees them (`wg show DEVICE dump`)."""
    rows = [line.split("\t") for line in _wg("show", device, "dump").splitlines()[1:]]
    return [PeerState(r[0], "" if r[2] == "(none)" else r[2],
                      "" if r[3] == "(none)" else r[3], int(r[4]), int(r[5]), int(r[6]))
            for r in rows if len(r) >= 8]


def own_public_key(device: str) -> str:
    """The device's public key ("" before it has one)."""
    first = _wg("show", device, "dump").splitlines()[0].split("\t")
    return "" if first[1] == "(none)" else first[1]

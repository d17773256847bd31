"""Network interfaces on this host through netlink (pyroute2): no `ip` forks."""

from __future__ import annotations

import ctypes
import fcntl
import logging
import socket
import struct
import threading

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

LOG = logging.getLogger(__name__)

ENODEV = 19
EEXIST = 17


class LinkError(RuntimeError):
    """A netlink operation failed."""


# One netlink socket per thread, kept: opening an IPRoute (pyroute2 0.9 sets up an
# event loop for it) costs more than the operations a Join needs. pyroute2
# sockets are not thread-safe, hence one per request thread.
_local = threading.local()


def _ipr() -> IPRoute:
    ipr = getattr(_local, "ipr", None)
    if ipr is None:
        ipr = _local.ipr = IPRoute()
    return ipr


def exists(name: str) -> bool:
    return bool(_ipr().link_lookup(ifname=name))


def create_veth(outer: str, inner: str, mac: str, mtu: int) -> None:
    """Create a veth pair: ``outer`` stays on the host (an OVS port), ``inner``
    goes to the container with the endpoint's MAC. Both ends get ``mtu``; the
    outer end is brought up. If anything fails the pair is removed again.
    """
    ipr = _ipr()
    try:
        # One request makes both ends with their MTU and the inner end's MAC.
        ipr.link("add", ifname=outer, kind="veth", mtu=mtu,
                 peer={"ifname": inner, "address": mac, "mtu": mtu})
    except NetlinkError as exc:
        if exc.code == EEXIST:
            raise LinkError(f"interface {outer} or {inner} already exists") from exc
        raise LinkError(f"creating veth {outer}/{inner}: {exc}") from exc
    try:
        ipr.link("set", ifname=outer, state="up")
    except Exception as exc:
        _delete(ipr, outer)
        raise LinkError(f"bringing {outer} up: {exc}") from exc


SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17  # set tx checksumming: all of NETIF_F_CSUM_MASK at once


def disable_tx_checksum(name: str) -> None:
    """Turn off tx checksum offload on ``name`` (what `ethtool -K NAME tx off` does).

    The userspace (netdev) datapath does not complete checksums that a veth
    leaves for offload: ping works, TCP does not. The setting survives Docker
    moving the interface into the container. One legacy ethtool ioctl (0.1 ms):
    pyroute2's Ethtool reads and writes the whole feature set, 1.5-6 ms a Join.
    """
    value = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
    ifreq = struct.pack("16sP", name.encode(), ctypes.addressof(value))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            fcntl.ioctl(sock, SIOCETHTOOL, ifreq)
    except OSError as exc:
        raise LinkError(f"disabling tx checksum offload on {name}: {exc}") from exc


def _delete(ipr: IPRoute, name: str) -> bool:
    try:
        ipr.link("del", ifname=name)
        return True
    except NetlinkError as exc:
        if exc.code == ENODEV:
            return False
        raise LinkError(f"deleting {name}: {exc}") from exc


def delete(name: str) -> bool:
    """Delete an interface (a veth takes its peer with it). Gone already is fine."""
    return _delete(_ipr(), name)


def names_with_prefix(prefix: str) -> list[str]:
    return [
        link.get_attr("IFLA_IFNAME")
        for link in _ipr().get_links()
        if (link.get_attr("IFLA_IFNAME") or "").startswith(prefix)
    ]

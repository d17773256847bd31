"""Network interfaces on this host through netlink (pyroute2): no `ip` forks."""

from __future__ import annotations

import ctypes
import fcntl
import logging
import errno
import socket
import struct
import threading
import time

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

LOG = logging.getLogger(__name__)

ENODEV = 19
EEXIST = 17


class LinkError(RuntimeError):
    """A netlink operation failed."""


class LinkExists(LinkError):
    """The interface name is taken."""


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


def route_interface(address: str) -> str | None:
    """The interface this host sends to ``address`` through (its route's), or None."""
    ipr = _ipr()
    try:
        routes = ipr.route("get", dst=address)
        index = routes[0].get_attr("RTA_OIF") if routes else None
        links_found = ipr.get_links(index) if index else []
    except (NetlinkError, ValueError):
        return None
    return links_found[0].get_attr("IFLA_IFNAME") if links_found else None


def create_veth(outer: str, inner: str, mac: str, mtu: int) -> None:
    """Create a veth pair: ``outer`` stays on the host (an OVS port), ``inner``
    goes to the container with the endpoint's MAC. Both ends get ``mtu``; the
    outer end is up. LinkExists if either name is taken (nothing is created then).
    """
    ipr = _ipr()
    try:
        # One request makes both ends with their MTU and the inner end's MAC, the
        # outer end already up.
        # The outer end is no interface of the host's stack: NOARP, or the host (which
        # holds the containers' gateway address, network/gateway) would answer their ARP
        # on it with its own MAC, and their traffic would skip OVN (the userspace
        # datapath reads the veth with a packet socket: the kernel sees each frame too).
        ipr.link("add", ifname=outer, kind="veth", mtu=mtu, state="up", arp=False,
                 peer={"ifname": inner, "address": mac, "mtu": mtu})
    except NetlinkError as exc:
        if exc.code == EEXIST:
            raise LinkExists(f"interface {outer} or {inner} already exists") from exc
        raise LinkError(f"creating veth {outer}/{inner}: {exc}") from exc


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


class _Reaper:
    """Deletes interfaces after the request that let them go was answered: a veth's
    deletion takes the kernel 15-20 ms (it waits for an RCU grace period), which Leave
    need not wait for. By index, not name: a new interface under the same name (the
    same endpoint joining again) is never the one deleted. Nothing is lost if the
    driver dies first: an unplugged veth is what `dockovn gc` removes."""

    def __init__(self):
        self._cond = threading.Condition()
        self._queue: list[tuple[int, str]] = []
        self._thread: threading.Thread | None = None

    def add(self, name: str) -> bool:
        found = _ipr().link_lookup(ifname=name)
        if not found:
            return False
        with self._cond:
            self._queue.append((found[0], name))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="dockovn-reaper",
                                                 daemon=True)
                self._thread.start()
            self._cond.notify()
        return True

    def pending(self, name: str) -> bool:
        with self._cond:
            return any(n == name for _, n in self._queue)

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until every queued deletion is done (tests, shutdown)."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._queue and time.monotonic() < end:
                self._cond.wait(0.05)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                index, name = self._queue[0]
            try:
                _ipr().link("del", index=index)
            except NetlinkError as exc:
                if exc.code != ENODEV:
                    LOG.warning("deleting %s (index %d): %s", name, index, exc)
            except Exception as exc:  # the thread must live on
                LOG.warning("deleting %s (index %d): %s", name, index, exc)
            with self._cond:
                self._queue.remove((index, name))
                self._cond.notify_all()


_reaper = _Reaper()


def delete_later(name: str) -> bool:
    """Delete ``name`` in the background (see _Reaper); False when there is none."""
    return _reaper.add(name)


def deleting(name: str) -> bool:
    """Whether ``name`` waits for its background deletion."""
    return _reaper.pending(name)


def drain_deletions(timeout: float = 5.0) -> None:
    _reaper.drain(timeout)


def names_with_prefix(prefix: str) -> list[str]:
    return [
        link.get_attr("IFLA_IFNAME")
        for link in _ipr().get_links()
        if (link.get_attr("IFLA_IFNAME") or "").startswith(prefix)
    ]


def mac_of(name: str) -> str:
    links_ = _ipr().get_links(ifname=name)
    if not links_:
        raise LinkError(f"interface {name} does not exist")
    return links_[0].get_attr("IFLA_ADDRESS")


def set_up(name: str) -> None:
    _ipr().link("set", ifname=name, state="up")


def move_ipv4(src: str, dst: str) -> list[str]:
    """Move ``src``'s IPv4 addresses, and the routes through it, to ``dst`` (how
    a NIC becomes an OVS bridge's port without losing the machine's address).
    Returns what moved, as "address" and "route" lines; nothing to move is fine."""
    ipr = _ipr()
    src_idx = ipr.link_lookup(ifname=src)
    dst_idx = ipr.link_lookup(ifname=dst)
    if not src_idx or not dst_idx:
        raise LinkError(f"interface {src if not src_idx else dst} does not exist")
    src_idx, dst_idx = src_idx[0], dst_idx[0]
    addrs = [(a.get_attr("IFA_ADDRESS"), a["prefixlen"])
             for a in ipr.get_addr(family=socket.AF_INET, index=src_idx)]
    # Routes through src other than the ones its addresses make (kernel, "proto kernel").
    routes = [r for r in ipr.get_routes(family=socket.AF_INET, oif=src_idx)
              if r["proto"] != 2 and r.get_attr("RTA_TABLE") == 254]
    moved = []
    for address, prefix in addrs:
        try:
            ipr.addr("add", index=dst_idx, address=address, prefixlen=prefix)
        except NetlinkError as exc:
            if exc.code != EEXIST:
                raise LinkError(f"adding {address}/{prefix} to {dst}: {exc}") from exc
        ipr.addr("del", index=src_idx, address=address, prefixlen=prefix)
        moved.append(f"address {address}/{prefix}")
    for route in routes:
        dst_net = route.get_attr("RTA_DST") or "0.0.0.0"
        spec = {"dst": f"{dst_net}/{route['dst_len']}", "oif": dst_idx}
        if route.get_attr("RTA_GATEWAY"):
            spec["gateway"] = route.get_attr("RTA_GATEWAY")
        try:
            ipr.route("replace", **spec)
        except NetlinkError as exc:
            raise LinkError(f"moving route {spec['dst']} to {dst}: {exc}") from exc
        moved.append(f"route {spec['dst']}" + (f" via {spec['gateway']}"
                                                if "gateway" in spec else ""))
    return moved



def ensure_local_address(address: str, ifname: str = "lo") -> None:
    """``address`` (/32 or /128) on ``ifname`` (loopback): a local address for a service
    of this host that containers reach through their default route (Linux delivers
    to a local address whatever interface the packet came in by). Idempotent."""
    ipr = _ipr()
    index = ipr.link_lookup(ifname=ifname)[0]
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    prefix = 128 if family == socket.AF_INET6 else 32
    have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=family)}
    if address not in have:
        try:
            ipr.addr("add", index=index, address=address, prefixlen=prefix)
        except NetlinkError as exc:
            if exc.code != EEXIST:
                raise LinkError(f"adding {address} to {ifname}: {exc}") from exc


def remove_local_address(address: str, ifname: str = "lo") -> None:
    ipr = _ipr()
    index = ipr.link_lookup(ifname=ifname)[0]
    prefix = 128 if ":" in address else 32
    try:
        ipr.addr("del", index=index, address=address, prefixlen=prefix)
    except NetlinkError:
        pass  # not there


def configure_gateway_port(name: str, address: str, subnets: list[str],
                           mtu: int | None = None, wait: float = 5.0,
                           link_local6: str | None = None) -> None:
    """Bring up ``name`` (an OVS internal port vswitchd is making) with ``address`` (/32
    or /128), ``mtu`` (if given) and a route to each of ``subnets`` through it, from
    ``address``. ``link_local6``: the IPv6 gateway address of a network with an IPv6
    subnet (a fe80::/64 address, valid at once: no duplicate detection, since no other
    interface on the network's switch holds it on this host), and IPv6 forwarding on.
    Waits up to ``wait`` seconds for the interface to appear. Idempotent."""
    ipr = _ipr()
    deadline = time.monotonic() + wait
    while not (index := ipr.link_lookup(ifname=name)):
        if time.monotonic() > deadline:
            raise LinkError(f"interface {name} did not appear (is ovs-vswitchd running?)")
        time.sleep(0.02)
    index = index[0]
    while True:
        try:
            _configure_gateway_port(ipr, index, name, address, subnets, mtu, link_local6)
            return
        except NetlinkError as exc:
            # ENETDOWN: vswitchd took the port down again as it finished making it (seen
            # right after a dockerd restart): bring it up and configure it again.
            if exc.code != errno.ENETDOWN or time.monotonic() > deadline:
                raise LinkError(f"configuring {name}: {exc}") from exc
            time.sleep(0.05)


def _configure_gateway_port(ipr, index: int, name: str, address: str, subnets: list[str],
                            mtu: int | None, link_local6: str | None) -> None:
    """One pass of configure_gateway_port's settings (NetlinkError as it comes)."""
    if mtu is not None:
        ipr.link("set", index=index, mtu=mtu)
    if link_local6:  # before the link is up: the kernel's own (the same) waits for DAD
        have6 = {a.get_attr("IFA_ADDRESS")
                 for a in ipr.get_addr(index=index, family=socket.AF_INET6)}
        if link_local6 not in have6:
            ipr.addr("add", index=index, address=link_local6, prefixlen=64,
                     flags=IFA_F_NODAD)
        _ipv6_forwarding()
    ipr.link("set", index=index, state="up")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=index, family=family)}
    if address not in have:
        ipr.addr("add", index=index, address=address,
                 prefixlen=128 if family == socket.AF_INET6 else 32)
    _route_localnet(name)
    for subnet in subnets:
        route = {"dst": subnet, "oif": index, "scope": 253}  # scope link
        if (":" in subnet) == (":" in address):
            route["prefsrc"] = address  # the host answers containers from the gateway
        ipr.route("replace", **route)


IFA_F_NODAD = 0x02  # linux/if_addr.h


def _ipv6_forwarding() -> None:
    """IPv6 forwarding on, for containers' IPv6 egress (as Docker does for its own IPv6
    networks). It also stops the host taking routes from router advertisements on
    interfaces with accept_ra=1: an uplink configured that way needs accept_ra=2."""
    path = "/proc/sys/net/ipv6/conf/all/forwarding"
    try:
        with open(path) as f:
            if f.read().strip() == "1":
                return
        with open(path, "w") as f:
            f.write("1")
        LOG.info("IPv6 forwarding turned on (containers' IPv6 egress)")
    except OSError as exc:
        if not getattr(_ipv6_forwarding, "warned", False):
            LOG.warning("containers' IPv6 traffic cannot leave this host: IPv6 forwarding "
                        "is off and cannot be turned on (%s): sysctl "
                        "net.ipv6.conf.all.forwarding=1", exc)
            _ipv6_forwarding.warned = True


def _route_localnet(name: str) -> None:
    """Let the host's 127.0.0.1 reach published ports through ``name`` (host/firewall.py
    guards the way in). A managed plugin sees /proc/sys read-only: published ports then
    answer on the host's other addresses only, which is said once."""
    try:
        with open(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "w") as f:
            f.write("1")
    except OSError as exc:
        if not getattr(_route_localnet, "warned", False):
            LOG.warning("published ports will not answer on this host's 127.0.0.1: "
                        "cannot set route_localnet on %s (%s)", name, exc)
            _route_localnet.warned = True

"""Making (idempotently) and removing a host's encrypted tunnel endpoint: the router
namespace, wireguard-go and its device, the veth into OVS, the br-wg bridge."""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass

from dockovn.deploy import procs
from dockovn.host import wireguard
from dockovn.ovn.tunnel_keys import SLOTS

MTU_OVERHEAD = 60  # WireGuard over IPv4: 20 IP + 8 UDP + 32 WireGuard


def device_name(chassis: str, slot: int) -> str:
    """Host ``chassis``' WireGuard device of key slot ``slot`` (15 characters at most, as
    Linux wants)."""
    return f"wg{slot}-{chassis}"[:15]


@dataclass(frozen=True)
class Endpoint:
    """One host's encrypted endpoint. ``name`` (the chassis) makes the device names
    unique on a machine that runs several hosts (wireguard-go's control sockets share
    one folder)."""
    name: str
    address: str            # this host's tunnel address, in ``network``
    network: str            # the central's encap network, e.g. 10.254.0.0/16
    underlay_mtu: int = 1500
    namespace: str = "dkovn-wg"
    bridge: str = "br-wg"
    rundir: str = "/var/run/ovn"
    ovs_remote: str = "unix:/var/run/openvswitch/db.sock"

    def device(self, slot: int) -> str:
        return device_name(self.name, slot)

    @property
    def ovs_port(self) -> str:
        return f"wgh-{self.name}"[:15]

    @property
    def router_port(self) -> str:
        return f"wgr-{self.name}"[:15]

    @property
    def mtu(self) -> int:
        """The WireGuard device's: what Geneve packets may be."""
        return self.underlay_mtu - MTU_OVERHEAD

    def pidfile(self, slot: int) -> str:
        return os.path.join(self.rundir, f"wireguard-go-{slot}.pid")

    @property
    def keys_path(self) -> str:
        """This host's private keys, one per slot (the peer sync's: ``keystore``)."""
        return os.path.join(self.rundir, "wireguard-keys.json")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise procs.SetupError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def _in_router(ep: Endpoint, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _ip("-n", ep.namespace, *args, check=check)


def _exists(ep: Endpoint, link: str, in_router: bool) -> bool:
    args = ("link", "show", link)
    return (_in_router(ep, *args, check=False) if in_router else _ip(*args, check=False)) \
        .returncode == 0


def _start_wireguard(ep: Endpoint, slot: int) -> None:
    """wireguard-go in this namespace (its UDP socket on the host's underlay), its
    device then moved into the router namespace."""
    device, pidfile = ep.device(slot), ep.pidfile(slot)
    if procs.running(pidfile) and _exists(ep, device, in_router=True):
        return
    procs.stop(pidfile)
    log = open(os.path.join(ep.rundir, f"wireguard-go-{slot}.log"), "ab")
    proc = subprocess.Popen(["wireguard-go", "-f", device], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "LOG_LEVEL": "error"})
    log.close()
    with open(pidfile, "w") as f:
        f.write(f"{proc.pid}\n")
    procs.wait_for(lambda: _exists(ep, device, in_router=False) or proc.poll() is not None,
                   15, f"wireguard-go to make {device}")
    if proc.poll() is not None:
        raise procs.SetupError(f"wireguard-go exited ({proc.returncode}); see "
                               f"{ep.rundir}/wireguard-go-{slot}.log")
    # Its MTU while wireguard-go still hears of it (it watches the device in this namespace).
    _ip("link", "set", device, "mtu", str(ep.mtu))
    _ip("link", "set", device, "netns", ep.namespace)


def send_with(ep: Endpoint, slot: int) -> None:
    """Send to the other hosts through slot ``slot``'s device (one route, replaced at
    once: packets go out on one key or the other, none is lost between them)."""
    _in_router(ep, "route", "replace", str(ipaddress.ip_network(ep.network)), "dev",
               ep.device(slot))


def ensure(ep: Endpoint) -> None:
    """Make what is missing. Keys and peers are the peer sync's."""
    net = ipaddress.ip_network(ep.network)
    if ipaddress.ip_address(ep.address) not in net:
        raise procs.SetupError(f"tunnel address {ep.address} is not in {ep.network}")
    # (`ip netns exec NS true` fails from inside another `ip netns exec`: list them.)
    if ep.namespace not in {line.split()[0] for line in _ip("netns", "list").stdout.splitlines()
                            if line.strip()}:
        _ip("netns", "add", ep.namespace)
    _in_router(ep, "link", "set", "lo", "up")
    for key in ("net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0"):
        _ip("netns", "exec", ep.namespace, "sysctl", "-qw", key)
    for slot in range(SLOTS):
        _start_wireguard(ep, slot)
        wireguard.set_port(ep.device(slot), wireguard.port(slot))
        _in_router(ep, "link", "set", ep.device(slot), "up")
    # The veth between OVS's br-wg and the router.
    if not _exists(ep, ep.ovs_port, in_router=False):
        _ip("link", "add", ep.ovs_port, "mtu", str(ep.mtu), "type", "veth", "peer", "name",
            ep.router_port, "mtu", str(ep.mtu), "netns", ep.namespace)
    _ip("link", "set", ep.ovs_port, "up")
    _in_router(ep, "link", "set", ep.router_port, "up")
    # Kernel-made packets entering the userspace datapath need complete checksums.
    for cmd in (("ethtool", "-K", ep.ovs_port, "tx", "off"),):
        subprocess.run(cmd, capture_output=True, timeout=10)
    _ip("netns", "exec", ep.namespace, "ethtool", "-K", ep.router_port, "tx", "off",
        check=False)
    _ip("netns", "exec", ep.namespace, "sysctl", "-qw",
        f"net.ipv4.conf.{ep.router_port}.proxy_arp=1")
    # Peers' endpoints go to WireGuard (it picks the peer by address); ours back to OVS.
    shown = _in_router(ep, "route", "show", str(net)).stdout
    if not any(f"dev {ep.device(slot)}" in shown for slot in range(SLOTS)):
        send_with(ep, 0)  # until the peer sync says which generation the cluster uses
    _in_router(ep, "route", "replace", f"{ep.address}/32", "dev", ep.router_port)
    vsctl = ["ovs-vsctl", f"--db={ep.ovs_remote}"]
    procs.run([*vsctl, "--may-exist", "add-br", ep.bridge, "--", "set", "Bridge", ep.bridge,
               "datapath_type=netdev", "--", "--may-exist", "add-port", ep.bridge, ep.ovs_port],
              f"adding {ep.bridge}")
    procs.wait_for(lambda: _exists(ep, ep.bridge, in_router=False), 15,
                   f"OVS to make {ep.bridge}")
    _ip("link", "set", ep.bridge, "mtu", str(ep.mtu), "up")
    _ip("addr", "replace", f"{ep.address}/{net.prefixlen}", "dev", ep.bridge)
    subprocess.run(["ethtool", "-K", ep.bridge, "tx", "off"], capture_output=True, timeout=10)
    # The router has no address to ask with: it knows where our endpoint is.
    with open(f"/sys/class/net/{ep.bridge}/address") as f:
        mac = f.read().strip()
    _in_router(ep, "neigh", "replace", ep.address, "lladdr", mac, "dev", ep.router_port,
               "nud", "permanent")


def remove(ep: Endpoint) -> None:
    """Take it all away (idempotent): the bridge, the veth, wireguard-go, the namespace."""
    subprocess.run(["ovs-vsctl", f"--db={ep.ovs_remote}", "--if-exists", "del-br", ep.bridge],
                   capture_output=True, timeout=30)
    _ip("link", "del", ep.ovs_port, check=False)
    for slot in range(SLOTS):
        procs.stop(ep.pidfile(slot))
    _ip("netns", "del", ep.namespace, check=False)

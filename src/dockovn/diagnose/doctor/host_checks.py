"""Judging this host: pure functions from what was read (facts) to findings.

Each function is one check id; every problem says what to do. Messages speak of
containers, networks and hosts, and name OVN's rows only where a person has to look.
"""

from __future__ import annotations

from dockovn.host.ovs import InterfaceState
from dockovn.network import external_ids
from dockovn.diagnose.doctor import tunnel_traffic
from dockovn.diagnose.doctor.facts import (ChassisRow, ControllerFacts, DockerFacts,
                                                   DriverFacts, LocalAddress, Offload, OvsFacts,
                                                   TunnelTraffic)
from dockovn.diagnose.doctor.findings import Finding, fail, ok, warn
from dockovn.ovn.nb import LogicalPort, LogicalSwitch
from dockovn.ovn.sb import Binding

SETUP = "`dockovn host setup` (idempotent: it starts only what is missing)"
# Bytes a tunnel adds around a container's packet (outer IPv4 + UDP + header + options,
# and the inner Ethernet header the container's MTU does not count).
TUNNEL_OVERHEAD = {"geneve": 58, "vxlan": 50}
IPV6_EXTRA = 20


def check_ovs(ovs: OvsFacts) -> list[Finding]:
    if ovs.error:
        return [fail("ovs", f"the Open vSwitch database does not answer: {ovs.error}",
                     f"start Open vSwitch: {SETUP}, or ovs-ctl start; --ovs-db says where "
                     "doctor looks")]
    out = []
    if not ovs.vswitchd_running:
        out.append(fail("ovs", "ovs-vswitchd is not running: nothing is forwarded on this host",
                        f"start it: {SETUP}, or /usr/share/openvswitch/scripts/ovs-ctl start"))
    if not ovs.bridge_exists:
        out.append(fail("ovs", f"the integration bridge {ovs.bridge} does not exist",
                        f"ovn-controller creates it: run {SETUP}"))
    return out or [ok("ovs", f"Open vSwitch runs; {ovs.bridge} present")]


def check_controller(ctl: ControllerFacts, sb_remote: str) -> list[Finding]:
    if not ctl.running:
        return [fail("ovn-controller", "ovn-controller is not running: new containers are "
                     "not bound and no flow changes reach this host",
                     f"start it: {SETUP}, or /usr/share/ovn/scripts/ovn-ctl start_controller")]
    if ctl.connection == "connected":
        return [ok("ovn-controller", "ovn-controller runs, connected to the Southbound DB")]
    if ctl.connection:
        return [fail("ovn-controller", f"ovn-controller runs but is {ctl.connection} to the "
                     f"Southbound DB ({sb_remote})",
                     "check that this host reaches it (TCP 6642), that its certificate is "
                     "still trusted (joined, not revoked: `dockovn host join` again), and "
                     "ovn-controller's log")]
    return [warn("ovn-controller", f"ovn-controller runs but does not answer on its control "
                 f"socket ({ctl.detail})",
                 "check --ovn-rundir (where its ovn-controller.<pid>.ctl is) and its log")]


def check_encap(ovs: OvsFacts, addresses: dict[str, LocalAddress]) -> list[Finding]:
    if not ovs.encap_ips:
        return [fail("encap", "no tunnel address is configured (ovn-encap-ip)",
                     "dockovn host setup --encap-ip <this host's underlay address>")]
    if ovs.encap_type not in TUNNEL_OVERHEAD:
        return [fail("encap", f"tunnel type {ovs.encap_type or '(none)'} is not geneve or vxlan",
                     "dockovn host setup --encap-type geneve (the same on every host)")]
    out = []
    for ip in ovs.encap_ips:
        if ip not in addresses:
            out.append(fail(
                "encap", f"tunnel address {ip} is not an address of this host: the other "
                "hosts send this host's container traffic there and it never arrives",
                "set it to this host's underlay address: dockovn host setup --encap-ip ADDR "
                "(or ovs-vsctl set Open_vSwitch . external_ids:ovn-encap-ip=ADDR)", subject=ip))
    if out:
        return out
    where = ", ".join(f"{ip} on {addresses[ip].ifname}" for ip in ovs.encap_ips)
    return [ok("encap", f"{ovs.encap_type} tunnels from {where}")]


def check_chassis(ovs: OvsFacts, chassis: list[ChassisRow]) -> list[Finding]:
    """Registered under this host's system-id, as this host, and nobody else claims it."""
    me = ovs.system_id
    mine = set(ovs.encap_ips)
    hostname = ovs.config.get("hostname", "")
    if not me:
        return [fail("chassis", "this host has no OVN identity (Open_vSwitch "
                     "external_ids:system-id)",
                     f"run `dockovn host join TOKEN CENTRAL` (or {SETUP} with this host's "
                     "bundle)")]
    row = next((c for c in chassis if c.name == me), None)
    if row is None:
        return [fail("chassis", f"no chassis {me} in the Southbound DB: ovn-controller has "
                     "not registered this host", "check ovn-controller's log: over SSL the "
                     "certificate's name must equal the system-id (one identity per host: "
                     "`dockovn host join`)",
                     subject=me)]
    out = []
    if mine and not row.ips & mine:
        theirs = ", ".join(sorted(row.ips)) or "none"
        if hostname and row.hostname and row.hostname != hostname:
            out.append(fail(
                "chassis", f"system-id {me} is registered by another host: {row.hostname} "
                f"(tunnel address {theirs}); this host is {hostname} ({', '.join(sorted(mine))}). "
                "Two hosts with one system-id fight over the chassis and its ports",
                "give this host its own identity: `dockovn host join` with its own --hostname "
                "(or ovs-vsctl set Open_vSwitch . external_ids:system-id=NEW-ID)", subject=me))
        else:
            out.append(fail(
                "chassis", f"chassis {me} is registered with tunnel address {theirs}, but "
                f"this host is configured with {', '.join(sorted(mine))}: ovn-controller has "
                "not updated it", "check that ovn-controller is connected and its log",
                subject=me))
    for other in chassis:
        shared = other.ips & mine
        if other.name == me or not shared:
            continue
        address = ", ".join(sorted(shared))
        if hostname and other.hostname == hostname:
            out.append(fail(
                "chassis", f"chassis {other.name} is this host too (its name and tunnel "
                f"address {address}): this host was registered under another system-id",
                f"if the system-id changed by mistake, set it back to {other.name} (`dockovn "
                f"host join` with --hostname {other.name}); if it was meant, remove the old "
                "registration: "
                f"dockovn gc --forget-host {other.name} --sb <the central's SB socket>",
                subject=other.name))
        else:
            out.append(fail(
                "chassis", f"chassis {other.name} ({other.hostname}) uses this host's tunnel "
                f"address {address} too: the other hosts cannot tell the two apart",
                "give each host its own address (ovn-encap-ip); a host gone for good: "
                f"dockovn gc --forget-host {other.name} --sb <the central's SB socket>",
                subject=other.name))
    return out or [ok("chassis", f"registered as chassis {me} ({row.hostname}), the only "
                      "one with its tunnel address", subject=me)]


def others(ovs: OvsFacts, chassis: list[ChassisRow]) -> list[ChassisRow]:
    """The chassis this host should have a tunnel to: not itself, and not one sharing its
    address (check_chassis reports those)."""
    mine = set(ovs.encap_ips)
    return [c for c in chassis if c.name != ovs.system_id and not c.ips & mine]


def check_tunnels(ovs: OvsFacts, chassis: list[ChassisRow],
                  traffic: dict[int, TunnelTraffic] | None, window: float,
                  counters_error: str = "") -> list[Finding]:
    peers = others(ovs, chassis)
    if not peers:
        return [ok("tunnel", "no other chassis: nothing to tunnel to")]
    out = []
    for peer in sorted(peers, key=lambda c: c.name):
        found = [i for i in ovs.tunnels() if i.options.get("remote_ip") in peer.ips]
        who = f"{peer.name} ({peer.hostname}, {', '.join(sorted(peer.ips)) or 'no address'})"
        if not found:
            out.append(fail("tunnel", f"no tunnel to chassis {who}",
                            "ovn-controller makes one per chassis: check that every host "
                            "uses the same ovn-encap-type, and this host's ovn-controller log",
                            subject=peer.name))
            continue
        iface = found[0]
        if iface.error or iface.ofport in (None, -1):
            out.append(fail("tunnel", f"Open vSwitch cannot use the tunnel {iface.name} to "
                            f"{who}: {iface.error or 'no OpenFlow port'}",
                            "see ovs-vswitchd's log", subject=peer.name))
            continue
        out.append(_tunnel_traffic(iface, who, peer.name, traffic, window, counters_error))
    return out


def _tunnel_traffic(iface: InterfaceState, who: str, subject: str,
                    traffic: dict[int, TunnelTraffic] | None, window: float,
                    counters_error: str) -> Finding:
    if traffic is None:
        return ok("tunnel", f"tunnel {iface.name} to {who} (traffic not checked: "
                  f"{counters_error or 'no counters'})", subject=subject)
    t = traffic.get(iface.ofport, TunnelTraffic(0, 0))
    if tunnel_traffic.unanswered(t):
        port = "6081" if iface.type == "geneve" else "4789"
        return fail("tunnel", f"the tunnel to {who} sent {t.sent} packets in {window:g}s and "
                    "received none: traffic to that host is lost on the way, or it is down",
                    f"allow UDP {port} ({iface.type}) both ways between the two hosts' "
                    "tunnel addresses (firewalls, security groups); check that host with "
                    "`dockovn doctor` (a one-way UDP stream with no replies looks the same)",
                    subject=subject)
    if t.sent == 0 and t.received == 0:
        return ok("tunnel", f"tunnel {iface.name} to {who} (idle during the {window:g}s "
                  "probe: not verified)", subject=subject)
    return ok("tunnel", f"tunnel {iface.name} to {who}: {t.sent} sent, {t.received} "
              f"received in {window:g}s", subject=subject)


def check_mtu(ovs: OvsFacts, addresses: dict[str, LocalAddress],
              switches: list[LogicalSwitch], default_mtu: int) -> list[Finding]:
    """Every network that crosses hosts (dockovn's IPAM) fits the tunnel from here."""
    ip = ovs.encap_ips[0]
    underlay = addresses[ip]
    overhead = TUNNEL_OVERHEAD.get(ovs.encap_type, 58) + (IPV6_EXTRA if ":" in ip else 0)
    limit = underlay.mtu - overhead
    out, largest = [], 0
    for s in switches:
        if s.external_ids.get(external_ids.IPAM) != "dockovn":
            continue  # Docker's own IPAM: the network stays on one host, never tunnelled
        mtu = int(s.external_ids.get(external_ids.MTU) or default_mtu)
        largest = max(largest, mtu)
        if mtu > limit:
            name = s.external_ids.get(external_ids.NETWORK_NAME) or s.name[:12]
            out.append(fail(
                "mtu", f"network {name} has MTU {mtu}, but tunnels from this host carry at "
                f"most {limit} ({underlay.ifname} MTU {underlay.mtu} - {overhead} for "
                f"{ovs.encap_type}): full-size packets between hosts are dropped",
                f"create the network with -o mtu={limit}, or raise the underlay MTU to "
                f"{mtu + overhead}", subject=name))
    if out:
        return out
    fits = f"; largest network MTU {largest}" if largest else ""
    return [ok("mtu", f"tunnels carry {limit} bytes ({underlay.ifname} MTU {underlay.mtu} "
               f"- {overhead}){fits}")]


def check_datapath(ovs: OvsFacts, kernel_module: bool,
                   offloads: dict[str, Offload] | None, offload_error: str = "") -> list[Finding]:
    if ovs.datapath_type == "system" and not kernel_module:
        return [fail("datapath", f"{ovs.bridge} uses the kernel datapath but the openvswitch "
                     "kernel module is not loaded", "modprobe openvswitch, or re-run "
                     f"{SETUP}: it chooses the userspace datapath where the module is missing")]
    if ovs.datapath_type != "netdev":
        return [ok("datapath", "kernel datapath (it completes offloaded checksums)")]
    if offloads is None:
        return [ok("datapath", f"userspace datapath (container checksum offload not checked: "
                   f"{offload_error or 'dockerd not reachable'})")]
    out = []
    for endpoint, state in sorted(offloads.items()):
        if state.tx_checksum_on:
            out.append(fail(
                "datapath", f"container {state.container}: tx checksum offload is on: on the "
                "userspace datapath its TCP packets leave with unfinished checksums (ping "
                "works, TCP fails)", "reconnect it (docker network disconnect, then connect) "
                "so the driver turns it off, or in the container: ethtool -K IFACE tx off",
                subject=state.container))
    checked = sum(1 for s in offloads.values() if s.tx_checksum_on is not None)
    return out or [ok("datapath", f"userspace datapath; tx checksum offload off on {checked} "
                      "container interface(s)")]


def check_driver(driver: DriverFacts) -> list[Finding]:
    restart = ("start it: systemctl start dockovn-driver (packaging/), or `dockovn driver`; "
               "its log says why it stopped")
    if not driver.exists:
        return [fail("driver", f"no plugin socket at {driver.socket}: the dockovn driver is "
                     "not running (docker commands on dockovn networks fail)", restart)]
    if not driver.answered:
        return [fail("driver", f"the plugin socket {driver.socket} does not answer "
                     f"({driver.error}): the driver died or hangs", restart)]
    if "NetworkDriver" not in driver.implements:
        return [fail("driver", f"{driver.socket} answers but is not a network driver "
                     f"(implements {', '.join(driver.implements) or 'nothing'})",
                     "another plugin uses the name dockovn: stop it, start dockovn's")]
    return [ok("driver", f"the driver answers on {driver.socket}")]


def check_dockerd(docker: DockerFacts, docker_host: str) -> list[Finding]:
    if docker.error:
        return [fail("dockerd", f"dockerd does not answer at {docker_host}: {docker.error}",
                     "start dockerd (after the driver); --docker-host says where doctor looks")]
    if docker.plugin_reached is None:
        return [ok("dockerd", "dockerd answers (whether it reaches the plugin is not "
                   "checked: the driver does not answer)")]
    if not docker.plugin_reached:
        return [fail("dockerd", f"dockerd does not reach the dockovn plugin: "
                     f"{docker.plugin_detail}",
                     "dockerd looks for /run/docker/plugins/dockovn.sock as it sees that "
                     "folder: run the driver with that --plugin-dir, in dockerd's mount "
                     "namespace, and start it before dockerd")]
    return [ok("dockerd", f"dockerd answers; {docker.plugin_detail}")]


def check_endpoints(ovs: OvsFacts, ports: dict[str, LogicalPort],
                    bindings: dict[str, Binding], docker: DockerFacts | None) -> list[Finding]:
    """Every container port on this host's bridge is bound to this chassis and up; every
    endpoint Docker has here is plugged."""
    me = ovs.system_id
    out, good, plugged = [], 0, set()
    for iface in ovs.interfaces:
        endpoint = iface.external_ids.get(external_ids.OVS_ENDPOINT)
        if not endpoint:
            continue
        plugged.add(endpoint)
        lsp = ports.get(endpoint)
        if lsp is None:
            continue  # no logical port: check_docker_nb says whether that is a leftover
        problem = _endpoint_problem(iface, endpoint, lsp, bindings.get(endpoint), me)
        if problem is None:
            good += 1
            continue
        container = lsp.external_ids.get(external_ids.CONTAINER_NAME) or endpoint[:12]
        out.append(fail("endpoints", f"container {container}: {problem[0]}", problem[1],
                        subject=container))
    for endpoint, e in sorted((docker.endpoints if docker else {}).items()):
        if endpoint not in plugged and endpoint in ports:
            out.append(fail("endpoints", f"container {e.container}: Docker has it on "
                            f"{e.network} but its port is not on {ovs.bridge}: it has no "
                            "network", f"docker network disconnect {e.network} {e.container}; "
                            f"docker network connect {e.network} {e.container} (or restart it)",
                            subject=e.container))
    if out:
        return out
    return [ok("endpoints", f"{good} container endpoint(s) here, each bound and up"
               if good else "no containers on dockovn networks on this host")]


def _endpoint_problem(iface: InterfaceState, endpoint: str, lsp: LogicalPort,
                      binding: Binding | None, me: str) -> tuple[str, str] | None:
    iface_id = iface.external_ids.get("iface-id", "")
    if iface_id != endpoint:
        return (f"its port {iface.name} has iface-id {iface_id!r}, not its logical port "
                f"{endpoint}: ovn-controller cannot bind it, so it has no network",
                f"ovs-vsctl set Interface {iface.name} external_ids:iface-id={endpoint}")
    if iface.error or iface.ofport in (None, -1):
        return (f"Open vSwitch cannot use its port {iface.name}: {iface.error or 'no OpenFlow port'}",
                "restart the container; see ovs-vswitchd's log")
    if binding is None:
        return ("its logical port has no binding in the Southbound DB: ovn-northd has not "
                "processed it", "check ovn-northd on the central (dockovn central status)")
    if not binding.chassis:
        return ("its port is bound to no chassis: this host's ovn-controller has not claimed "
                "it", "check ovn-controller's log on this host (\"Claiming lport\")")
    if binding.chassis != me:
        return (f"its port is bound to chassis {binding.chassis}, not to this host ({me}): "
                "two hosts plug the same endpoint, or this host's identity changed",
                f"check chassis {binding.chassis}: `dockovn doctor` there")
    if lsp.up is not True:
        return ("bound here but not up: ovn-northd has not marked it up, so OVN does not "
                "forward to it yet", "check ovn-northd on the central (dockovn central status)")
    if iface.link_state == "down":
        return (f"its port {iface.name} is down", "restart the container")
    return None

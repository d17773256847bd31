"""This host's packet filter for dockovn's gateway ports: chains of its own, rewritten whole.

Containers leave a dockovn network through the host they run on (network/gateway): the
host source-NATs what they send out and DNATs published ports to them, as it does for
Docker's bridge. dockovn keeps that in four chains of its own (``DOCKOVN-*``), jumped to
from the built-in ones, and writes all of a family's chains in one ``iptables-restore
--noflush`` from the state it is given: no rule-by-rule edits to get wrong after a crash,
and a re-run changes nothing. (There is no maintained Python binding for iptables-nft,
the default on Debian 12 and 13; Docker and kube-proxy drive the same commands.)

Jumps from the built-in chains are added once, when missing: Docker's own chains stay as
they are, and FORWARD's policy (DROP once Docker enabled forwarding) keeps applying to
everything dockovn does not accept.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass

PORT_PREFIX = "dgw"  # the host's gateway port on each dockovn network (network/gateway)

# chain -> (table, built-in chain, the jump's match)
CHAINS = {
    "DOCKOVN-PREROUTING": ("nat", "PREROUTING", "-m addrtype --dst-type LOCAL"),
    "DOCKOVN-OUTPUT": ("nat", "OUTPUT", "-m addrtype --dst-type LOCAL"),
    "DOCKOVN-POSTROUTING": ("nat", "POSTROUTING", ""),
    "DOCKOVN-FORWARD": ("filter", "FORWARD", ""),
    "DOCKOVN-INPUT": ("filter", "INPUT", ""),
}
PROTOCOLS = ("tcp", "udp", "sctp")


class FirewallError(RuntimeError):
    """iptables refused the rules (the message is its own)."""


@dataclass(frozen=True)
class GatewayPort:
    """A dockovn network as this host's stack sees it: its gateway port and subnet."""
    interface: str
    subnet: ipaddress.IPv4Network | ipaddress.IPv6Network
    nat: bool = True  # source-NAT what leaves the host (off: the outside routes the subnet)


@dataclass(frozen=True)
class PublishedPort:
    """``-p [HOST_IP:]HOST_PORT[-END]:PORT[-END]/PROTO`` of one container."""
    protocol: str
    host_port: int
    host_port_end: int
    container_ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int
    host_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    owner: str = ""  # the endpoint, in the rule's comment (for people reading iptables-save)


def _dnat_target(p: PublishedPort) -> str:
    ip = f"[{p.container_ip}]" if p.container_ip.version == 6 else str(p.container_ip)
    if p.host_port_end != p.host_port:  # a range maps onto the same-sized range
        return f"{ip}:{p.port}-{p.port + p.host_port_end - p.host_port}"
    return f"{ip}:{p.port}"


def rules(version: int, gateways: list[GatewayPort], published: list[PublishedPort],
          bridge_only: str = "", host_only_tcp: tuple[int, ...] = ()) -> str:
    """The iptables-restore input that sets every dockovn chain of one IP version.
    ``bridge_only``: the name prefix of interfaces that are OVS's alone (containers' veth
    ends): nothing arriving on them is for the host's stack. ``host_only_tcp``: TCP
    ports containers may not reach, on this host or (through it) on any other."""
    gateways = [g for g in gateways if g.subnet.version == version]
    published = [p for p in published if p.container_ip.version == version]
    any_port = f"{PORT_PREFIX}+"
    nat, filt = ["*nat"], ["*filter"]
    for chain, (table, _, _) in CHAINS.items():
        (nat if table == "nat" else filt).append(f":{chain} - [0:0]")  # declared = emptied
    for p in sorted(published, key=lambda p: (p.host_port, p.protocol, str(p.host_ip))):
        ports = (f"{p.host_port}:{p.host_port_end}" if p.host_port_end != p.host_port
                 else str(p.host_port))
        match = (f"-p {p.protocol}" + (f" -d {p.host_ip}" if p.host_ip else "")
                 + f" -m {p.protocol} --dport {ports}")
        comment = f' -m comment --comment "dockovn {p.owner[:12]}"' if p.owner else ""
        target = f"-j DNAT --to-destination {_dnat_target(p)}"
        nat.append(f"-A DOCKOVN-PREROUTING {match}{comment} {target}")
        # From the host itself, on its addresses and (IPv4) on 127.0.0.1 too, as Docker's
        # bridge without its proxy does: the gateway ports route_localnet, below. The
        # kernel has no such thing for ::1.
        loopback = "" if version == 4 else "! -d ::1/128 "
        nat.append(f"-A DOCKOVN-OUTPUT {loopback}{match}{comment} {target}")
    if version == 4:  # the host's 127.0.0.1 to a container: from the gateway address
        nat.append(f"-A DOCKOVN-POSTROUTING -s 127.0.0.0/8 -o {any_port} -j MASQUERADE")
    for g in sorted(gateways, key=lambda g: g.interface):
        # A container reaching its own network's published port through the host: the
        # answer must come back through the host too.
        nat.append(f"-A DOCKOVN-POSTROUTING -o {g.interface} -s {g.subnet} "
                   "-m conntrack --ctstate DNAT -j MASQUERADE")
        if g.nat:
            nat.append(f"-A DOCKOVN-POSTROUTING -s {g.subnet} ! -o {any_port} -j MASQUERADE")
    if bridge_only:
        filt += [f"-A DOCKOVN-INPUT -i {bridge_only}+ -j DROP",
                 f"-A DOCKOVN-FORWARD -i {bridge_only}+ -j DROP"]
    for port in sorted(set(host_only_tcp)):
        filt += [f"-A DOCKOVN-INPUT -i {any_port} -p tcp -m tcp --dport {port} -j DROP",
                 f"-A DOCKOVN-FORWARD -i {any_port} -p tcp -m tcp --dport {port} -j DROP"]
    filt += [
        f"-A DOCKOVN-FORWARD -o {any_port} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        f"-A DOCKOVN-FORWARD -o {any_port} -m conntrack --ctstate DNAT -j ACCEPT",
        # Networks reach each other only through an OVN router they share (opt-in), never
        # through the host.
        f"-A DOCKOVN-FORWARD -i {any_port} -o {any_port} -j DROP",
        f"-A DOCKOVN-FORWARD -i {any_port} -j ACCEPT",
    ]
    for g in sorted(gateways, key=lambda g: g.interface):
        if not g.nat:  # routed: the outside reaches the containers (policy decides, in OVN)
            filt.append(f"-A DOCKOVN-FORWARD -o {g.interface} -j ACCEPT")
    if version == 4:
        # route_localnet lets 127.0.0.1 cross a gateway port: a container must not use it
        # to reach the host's loopback services (what kube-proxy's CVE-2020-8558 fix drops)
        filt.append(f"-A DOCKOVN-INPUT -i {any_port} -d 127.0.0.0/8 "
                    "-m conntrack ! --ctstate RELATED,ESTABLISHED -j DROP")
    return "\n".join(nat + ["COMMIT"] + filt + ["COMMIT", ""])


def missing_jumps(saved: str) -> str:
    """iptables-restore lines adding the jumps to dockovn's chains that ``saved`` (the
    output of iptables-save) lacks."""
    out = {"nat": [], "filter": []}
    for chain, (table, builtin, match) in CHAINS.items():
        rule = f"-A {builtin} {match + ' ' if match else ''}-j {chain}"
        if rule not in saved.splitlines():
            out[table].append(rule.replace(f"-A {builtin}", f"-I {builtin} 1", 1))
    text = []
    for table, lines in out.items():
        if lines:  # (no chain declared here: that would empty it)
            text += [f"*{table}"] + lines + ["COMMIT"]
    return "\n".join(text + [""]) if text else ""


_lock = threading.Lock()  # one writer at a time: each apply rewrites the chains whole


def apply(gateways: list[GatewayPort], published: list[PublishedPort],
          bridge_only: str = "", host_only_tcp: tuple[int, ...] = ()) -> None:
    """Make dockovn's chains (IPv4, and IPv6 when any network has it) say exactly this."""
    versions = [4] + ([6] if any(g.subnet.version == 6 for g in gateways) else [])
    with _lock:
        for version in versions:
            tool = "iptables" if version == 4 else "ip6tables"
            saved = _run([f"{tool}-save"], "")
            jumps = missing_jumps(saved)
            # The chains first (a jump needs its chain), then the jumps.
            _run([f"{tool}-restore", "--noflush", "--wait"],
                 rules(version, gateways, published, bridge_only, host_only_tcp))
            if jumps:
                _run([f"{tool}-restore", "--noflush", "--wait"], jumps)


def _run(cmd: list[str], stdin: str) -> str:
    # /usr/sbin may be missing from PATH (a managed plugin's environment, sudo's)
    found = shutil.which(cmd[0], path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    cmd = [found or cmd[0], *cmd[1:]]
    try:
        done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FirewallError(f"{cmd[0]}: {exc}") from exc
    if done.returncode != 0:
        raise FirewallError(f"{' '.join(cmd)}: {done.stderr.strip() or done.returncode}")
    return done.stdout

"""What must hold after a fault, once churn stopped and the system settled. Each check
returns its violations as sentences (empty: it holds), so a test reports them all.

The state checks read one snapshot (World) of both dockerds and of NB, after `dockovn
gc` ran on every host (garbage is what gc is for: what it cannot reclaim is a leak):

(a) endpoints_match, networks_match: Docker's endpoints on dockovn networks and NB's
    container ports one to one, per host (endpoint ID, dockovn:host, switch, container
    name and labels); every dockovn network in Docker has its switch and every switch
    a network in some dockerd, on every host if it uses dockovn's IPAM.
(b) no_address_twice: no address held by two ports of a switch, nor by a port and the
    gateway or a service; every port's address in its pool with a claim key, no claim
    key without its address.
(c) no_address_leaked: each dockovn pool holds exactly the live endpoints' addresses,
    the gateway, the --aux-addresses and the services' reserved ones.
(d) policies_match: each policy's port groups hold exactly the ports its selectors pick
    by the containers' labels (Docker's, and the endpoint's own).
Then, through containers: (e) names_resolve, (g) datapath_works; and from the churn log
and the ping: (f) errors_explained, (g) ping_kept.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field

from tests.multihost.test_names import lookup
from tests.multihost.test_multihost import sh_in
from tests.support import multihost
from tests.support.faults import central
from tests.support.faults.churn import NET_PREFIX, POLICY_PREFIX, SERVICE_PREFIX, Op
from tests.support.faults.injectors import Fault
from tests.support.faults.ping import PingResult

# NB external_ids keys (spelled out, not imported: the checks must not share a typo
# with the code they check). See src/dockovn/network/external_ids.py and overlay/ipam.py.
NETWORK_ID, NETWORK_NAME = "dockovn:network-id", "dockovn:name"
SUBNET, GATEWAY, IPAM = "dockovn:subnet", "dockovn:gateway", "dockovn:ipam"
AUX = "dockovn:aux-addresses"
DOCKER_ID = "dockovn:docker-id:"
ENDPOINT_ID, HOST, CONTAINER_NAME = "dockovn:endpoint-id", "dockovn:host", "dockovn:container-name"
LABEL_KEY, ENDPOINT_LABEL = "dockovn:label:", "dockovn:endpoint-label:"
CLAIM = "dockovn:at:"
SERVICE, RESERVED = "dockovn:service", "dockovn:reserved"
POLICY_SPEC = "dockovn:policy-spec"
# The driver copies the labels whose keys policies can select by (policy/model.py).
LABEL_KEY_FORM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-/]{0,127}")
GRACE = 8.0  # seconds after a fault healed that requests may still fail (see errors_explained)
# No request may take longer, fault or not: the driver answers each of dockerd's calls
# within 10 s (its request timeout) and a `docker run` makes a few; the CLI gives NB 5 s.
SLOW = 25.0


@dataclass(frozen=True)
class Endpoint:
    """A container's endpoint on a dockovn network, as one dockerd has it."""
    host: str
    endpoint: str         # EndpointID: the NB port's name
    network: str          # that dockerd's NetworkID
    container: str        # name
    ip: str
    labels: dict


@dataclass
class World:
    system_ids: dict[str, str]             # host -> OVS system-id (the ports' dockovn:host)
    networks: dict[str, dict[str, str]]    # host -> {NetworkID: name}, dockovn driver only
    endpoints: list[Endpoint]
    switches: list[dict]                   # NB Logical_Switch rows of dockovn networks
    ports: dict[str, dict]                 # LSP uuid -> row
    pools: list[dict]                      # Address_Set rows named dockovn_pool_*
    groups: list[dict]                     # Port_Group rows
    lbs: list[dict]                        # Load_Balancer rows
    switch_of_port: dict[str, dict] = field(default_factory=dict)  # LSP uuid -> switch

    def __post_init__(self):
        for s in self.switches:
            for uuid in central.as_list(s["ports"]):
                self.switch_of_port[uuid] = s

    def switch_for(self, docker_id: str) -> dict | None:
        """The switch a dockerd's NetworkID names: its own name (the creating host's) or
        an alias key (every other host's view)."""
        return next((s for s in self.switches
                     if s["name"] == docker_id or DOCKER_ID + docker_id in s["external_ids"]),
                    None)

    def container_ports(self) -> list[tuple[dict, dict]]:
        """(switch, port) for every container port (dockovn:endpoint-id) of a dockovn switch."""
        return [(self.switch_of_port[u], p) for u, p in self.ports.items()
                if u in self.switch_of_port and ENDPOINT_ID in p["external_ids"]]


def ips(port: dict) -> list[str]:
    """A port's addresses ("MAC IP [IP6 ...]" entries; "router", "unknown" have none)."""
    return [a for entry in central.as_list(port["addresses"]) for a in entry.split()[1:]]


def snapshot(cluster: multihost.Cluster) -> World:
    system_ids, networks, endpoints = {}, {}, []
    for host in cluster.hosts:
        system_ids[host.name] = host.vsctl("get", "Open_vSwitch", ".",
                                           "external_ids:system-id").strip().strip('"')
        client = host.docker()
        try:
            labels = {c.id: c.labels for c in client.containers.list(all=True)}
            networks[host.name] = {}
            for net in client.networks.list(filters={"driver": "dockovn"}):
                detail = client.api.inspect_network(net.id)
                networks[host.name][net.id] = detail["Name"]
                for cid, ep in (detail.get("Containers") or {}).items():
                    endpoints.append(Endpoint(host.name, ep["EndpointID"], net.id, ep["Name"],
                                              ep["IPv4Address"].split("/")[0],
                                              labels.get(cid, {})))
        finally:
            client.close()
    switches = [s for s in central.nb_rows(cluster, "Logical_Switch")
                if NETWORK_ID in s["external_ids"]]
    ports = {p["_uuid"]: p for p in central.nb_rows(cluster, "Logical_Switch_Port")}
    pools = [p for p in central.nb_rows(cluster, "Address_Set")
             if p["name"].startswith("dockovn_pool_")]
    return World(system_ids, networks, endpoints, switches, ports, pools,
                 central.nb_rows(cluster, "Port_Group"), central.nb_rows(cluster, "Load_Balancer"))


def collect_garbage(cluster: multihost.Cluster) -> tuple[list[str], str]:
    """`dockovn gc --min-age 0` on every host (churn has stopped: nothing is in flight).
    (violations: a gc that failed, what the runs printed)."""
    violations, printed = [], []
    for host in cluster.hosts:
        done = multihost.in_ns(host.ns, sys.executable, "-m", "dockovn", "gc", "--min-age", "0",
                               "--ovs-db", host.ovs_db, "--docker-host", host.docker_host,
                               check=False, timeout=120)
        out = (done.stdout + done.stderr).strip()
        if done.returncode != 0:
            violations.append(f"(c) gc on {host.name} failed ({done.returncode}): {out[-500:]}")
        if "nothing stale" not in out:
            printed.append(f"gc on {host.name}:\n{out}")
    return violations, "\n".join(printed)


# -- (a) -----------------------------------------------------------------------------------


def endpoints_match(w: World) -> list[str]:
    out = []
    hosts_by_id = {v: k for k, v in w.system_ids.items()}
    docker = {e.endpoint: e for e in w.endpoints}
    nb = {p["name"]: (s, p) for s, p in w.container_ports()}
    for ep, e in docker.items():
        if ep not in nb:
            out.append(f"(a) {e.host}: endpoint {ep[:12]} of {e.container} "
                       f"({e.ip}, {w.networks[e.host][e.network]}) has no NB port")
            continue
        switch, port = nb[ep]
        ids = port["external_ids"]
        if ids.get(HOST) != w.system_ids[e.host]:
            out.append(f"(a) port {ep[:12]} of {e.container} is on {e.host} but NB says "
                       f"dockovn:host={ids.get(HOST)}")
        want = w.switch_for(e.network)
        if want is None or want["_uuid"] != switch["_uuid"]:
            out.append(f"(a) port {ep[:12]} of {e.container} is on switch {switch['name'][:12]}, "
                       f"Docker has it on network {w.networks[e.host][e.network]}")
        if ids.get(CONTAINER_NAME) != e.container:
            out.append(f"(a) port {ep[:12]}: NB names it {ids.get(CONTAINER_NAME)!r}, "
                       f"Docker {e.container!r}")
        nb_labels = {k[len(LABEL_KEY):]: v for k, v in ids.items() if k.startswith(LABEL_KEY)}
        docker_labels = {k: v for k, v in e.labels.items() if LABEL_KEY_FORM.fullmatch(k)}
        if nb_labels != docker_labels:
            out.append(f"(a) port {ep[:12]} of {e.container}: labels in NB {nb_labels}, "
                       f"in Docker {docker_labels}")
        if ips(port) != [e.ip]:
            out.append(f"(a) port {ep[:12]} of {e.container}: NB address {ips(port)}, "
                       f"Docker's {e.ip}")
    for ep, (switch, port) in nb.items():
        if ep in docker:
            continue
        ids = port["external_ids"]
        where = hosts_by_id.get(ids.get(HOST), f"unknown host {ids.get(HOST)}")
        out.append(f"(a) NB port {ep[:12]} ({ids.get(CONTAINER_NAME) or 'unnamed'}, "
                   f"{' '.join(ips(port))}, switch {switch['name'][:12]}, {where}) has no "
                   "Docker endpoint")
    return out


def networks_match(w: World) -> list[str]:
    out = []
    known = set()
    for host, nets in w.networks.items():
        for docker_id, name in nets.items():
            switch = w.switch_for(docker_id)
            if switch is None:
                out.append(f"(a) {host}: Docker network {name} ({docker_id[:12]}) has no NB switch")
            else:
                known.add(switch["_uuid"])
    for s in w.switches:
        ids = s["external_ids"]
        name = ids.get(NETWORK_NAME, s["name"][:12])
        if s["_uuid"] not in known:
            out.append(f"(a) NB switch {name} ({s['name'][:12]}) is in no dockerd")
        elif ids.get(IPAM) == "dockovn":
            for host, nets in w.networks.items():
                if not any(w.switch_for(d) is s for d in nets):
                    out.append(f"(a) network {name} (dockovn IPAM) is missing on {host}")
    for host, nets in w.networks.items():
        for name in nets.values():
            if name.startswith(NET_PREFIX):
                out.append(f"(a) churn network {name} still on {host} after its rm")
    return out


# -- (b), (c) ------------------------------------------------------------------------------


def _reserved(w: World, switch: dict) -> set[str]:
    return {a for lb in w.lbs if lb["external_ids"].get(NETWORK_ID) == switch["name"]
            for a in lb["external_ids"].get(RESERVED, "").split()}


def _pool_of(w: World, switch: dict) -> dict | None:
    subnet = switch["external_ids"].get(SUBNET)
    return next((p for p in w.pools if p["external_ids"].get(SUBNET) == subnet), None)


def no_address_twice(w: World) -> list[str]:
    out = []
    by_switch: dict[str, list[tuple[str, dict]]] = {}
    for switch, port in w.container_ports():
        for ip in ips(port):
            by_switch.setdefault(switch["_uuid"], []).append((ip, port))
    for s in w.switches:
        ids = s["external_ids"]
        name = ids.get(NETWORK_NAME, s["name"][:12])
        held = by_switch.get(s["_uuid"], [])
        for ip, n in Counter(ip for ip, _ in held).items():
            if n > 1:
                who = [p["external_ids"].get(CONTAINER_NAME) or p["name"][:12]
                       for a, p in held if a == ip]
                out.append(f"(b) {ip} held by {n} ports on {name}: {who}")
        others = {ids.get(GATEWAY): "the gateway", **{a: "a service" for a in _reserved(w, s)},
                  **{a: "an --aux-address" for a in ids.get(AUX, "").split()}}
        for ip, port in held:
            if ip in others:
                out.append(f"(b) {ip} on {name} is both port {port['name'][:12]}'s and "
                           f"{others[ip]}'s")
        pool = _pool_of(w, s) if ids.get(IPAM) == "dockovn" else None
        if ids.get(IPAM) == "dockovn" and pool is None:
            out.append(f"(b) network {name} ({ids.get(SUBNET)}) has no address pool")
        if pool is None:
            continue
        addresses = set(central.as_list(pool["addresses"]))
        for ip, port in held:
            if ip not in addresses:
                out.append(f"(b) {ip} of port {port['name'][:12]} on {name} is not in its "
                           "pool: it can be handed out again")
            elif CLAIM + ip not in pool["external_ids"]:
                out.append(f"(b) {ip} of port {port['name'][:12]} on {name} has no claim key")
    for pool in w.pools:
        addresses = set(central.as_list(pool["addresses"]))
        for key in pool["external_ids"]:
            if key.startswith(CLAIM) and key[len(CLAIM):] not in addresses:
                out.append(f"(b) pool {pool['name']}: claim key {key} without its address")
    return out


def no_address_leaked(w: World) -> list[str]:
    out = []
    live: dict[str, set[str]] = {}
    for e in w.endpoints:
        switch = w.switch_for(e.network)
        if switch is not None:
            live.setdefault(switch["_uuid"], set()).add(e.ip)
    for pool in w.pools:
        subnet = pool["external_ids"].get(SUBNET)
        users = [s for s in w.switches if s["external_ids"].get(SUBNET) == subnet
                 and s["external_ids"].get(IPAM) == "dockovn"]
        if not users:
            out.append(f"(c) pool {pool['name']} ({subnet}): no network uses it")
            continue
        want = set()
        for s in users:
            ids = s["external_ids"]
            want |= live.get(s["_uuid"], set()) | _reserved(w, s) | set(ids.get(AUX, "").split())
            if ids.get(GATEWAY):
                want.add(ids[GATEWAY])
        have = set(central.as_list(pool["addresses"]))
        if have - want:
            out.append(f"(c) pool {subnet}: {sorted(have - want, key=ipaddress.ip_address)} "
                       "taken, no endpoint, gateway or service holds them (leaked past gc)")
        if want - have:
            out.append(f"(c) pool {subnet}: {sorted(want - have, key=ipaddress.ip_address)} in "
                       "use but not in the pool")
    return out


# -- (d) -----------------------------------------------------------------------------------


def _selects(selector, labels: dict) -> bool:
    return all(k in labels and (v is None or labels[k] == v) for k, v in selector)


def policies_match(w: World) -> list[str]:
    out = []
    labels_of = {e.endpoint: e.labels for e in w.endpoints}
    ports = []  # (switch name, port name, labels: Docker's, the endpoint's own over them)
    for switch, port in w.container_ports():
        ids = port["external_ids"]
        labels = dict(labels_of.get(port["name"], {}))
        labels.update({k[len(ENDPOINT_LABEL):]: v for k, v in ids.items()
                       if k.startswith(ENDPOINT_LABEL)})
        ports.append((switch["name"], port["name"], labels))
    name_of = {u: p["name"] for u, p in w.ports.items()}
    groups = {g["name"]: g for g in w.groups}
    for g in w.groups:
        spec = g["external_ids"].get(POLICY_SPEC)
        if not spec:
            continue
        policy = json.loads(spec)
        if policy["name"].startswith(POLICY_PREFIX):
            out.append(f"(d) churn policy {policy['name']} still in NB after its delete")
        selected = {p for sw, p, labels in ports
                    if (not policy.get("network") or policy["network"] == sw)
                    and _selects(policy.get("selector", []), labels)}
        wanted = {g["name"]: selected}
        froms, nets = policy.get("from_selectors", []), policy.get("from_networks", [])
        if froms or nets:
            wanted[g["name"] + "_from"] = {p for sw, p, labels in ports
                                           if sw in nets or any(_selects(s, labels) for s in froms)}
        for group_name, want in wanted.items():
            group = groups.get(group_name)
            if group is None:
                out.append(f"(d) policy {policy['name']}: no port group {group_name}")
                continue
            have = {name_of.get(u, u) for u in central.as_list(group["ports"])}
            for p in sorted(want - have):
                out.append(f"(d) {group_name} lacks port {p[:12]} (its labels select it)")
            for p in sorted(have - want):
                out.append(f"(d) {group_name} holds port {p[:12]} (its labels do not select it)")
    return out


def churn_gone(w: World) -> list[str]:
    """What churn made and removed again, gone from NB too (the rest: networks_match)."""
    out = [f"(d) churn service {lb['external_ids'][SERVICE]} still has a load balancer"
           for lb in w.lbs if lb["external_ids"].get(SERVICE, "").startswith(SERVICE_PREFIX)]
    out += [f"(d) port {p['name'][:12]} still an instance of churn service "
            f"{p['external_ids'][SERVICE]}" for _, p in w.container_ports()
            if p["external_ids"].get(SERVICE, "").startswith(SERVICE_PREFIX)]
    return out


def state(cluster: multihost.Cluster) -> list[str]:
    """(a)-(d) on a fresh snapshot."""
    w = snapshot(cluster)
    return (endpoints_match(w) + networks_match(w) + no_address_twice(w) +
            no_address_leaked(w) + policies_match(w) + churn_gone(w))


# -- (e), (g): through containers ----------------------------------------------------------


def names_resolve(askers: dict[str, object], live: dict[str, tuple[str, str]],
                  removed: dict[str, list[str]]) -> list[str]:
    """``askers``: host -> a container there that asks. ``live``: container name -> (its
    host, its address now): each is asked for from the *other* host, and must give
    exactly that address. ``removed``: host -> names of containers removed there: asked
    for from the other host, they must give nothing."""
    out = []
    for name, (host, address) in live.items():
        for asker_host, asker in askers.items():
            if asker_host == host:
                continue
            got = lookup(asker, name)
            if got != [address]:
                out.append(f"(e) {name} (on {host}, {address}) resolves to {got} from {asker_host}")
    for host, names in removed.items():
        for name in names:
            for asker_host, asker in askers.items():
                if asker_host != host and (got := lookup(asker, name)):
                    out.append(f"(e) {name}, removed on {host}, still resolves to {got} "
                               f"from {asker_host}")
    return out


def datapath_works(pairs: list[tuple[object, str, str]]) -> list[str]:
    """(container, its peer's name, the peer's address): one ping each way gets through."""
    out = []
    for c, peer, address in pairs:
        code, text = sh_in(c, f"ping -c 2 -w 5 {address}")
        if code != 0:
            out.append(f"(g) {c.name} cannot ping {peer} ({address}): "
                       f"{text.strip().splitlines()[-1:] or text}")
    return out


# -- (f), (g): from the churn log and the ping ---------------------------------------------


def errors_explained(ops: list[Op], fault: Fault, injected: float, healed: float) -> list[str]:
    """Failures only while the fault lasts (from its injection to GRACE seconds after it
    healed: an op counts if it was under way then), only on the hosts it touches, each
    saying one of the fault's reasons; no request hanging (longer than SLOW, failed or
    not); and every host working again after the window."""
    out = []
    window_end = healed + GRACE
    for op in ops:
        when = f"{op.start - injected:+.1f}s..{op.end - injected:+.1f}s"
        if op.end - op.start > SLOW:
            out.append(f"(f) {op.host} {op.kind} took {op.end - op.start:.1f}s ({when}; "
                       f"longer than {SLOW:g}s): {op.error or 'it worked in the end'}")
        if op.error is None:
            continue
        if fault.hosts is not None and op.host not in fault.hosts:
            out.append(f"(f) {op.host} {op.kind} failed ({when}), though the fault was on "
                       f"{', '.join(fault.hosts)}: {op.error}")
        elif op.end < injected:
            out.append(f"(f) {op.host} {op.kind} failed before the fault ({when}): {op.error}")
        elif op.start > window_end:
            out.append(f"(f) {op.host} {op.kind} failed {op.start - healed:.1f}s after the "
                       f"fault healed ({when}): {op.error}")
        elif not any(reason in op.error.lower() for reason in fault.errors):
            out.append(f"(f) {op.host} {op.kind} failed ({when}) saying something else than "
                       f"{'/'.join(fault.errors)}: {op.error}")
    for host in sorted({op.host for op in ops}):
        if not any(op.host == host and op.error is None and op.start > window_end for op in ops):
            out.append(f"(f) nothing worked on {host} after the fault's window")
    return out


def ping_kept(result: PingResult, fault: Fault, longest: int = 3) -> list[str]:
    if not fault.ping_kept:
        return []
    if result.sent == 0:
        return [f"(g) the ping did not run: {result.output[-300:]}"]
    if result.longest_gap > longest:
        return [f"(g) the cross-host ping missed {result.longest_gap} replies in a row "
                f"(> {longest}); {result.summary()}"]
    return []

"""Network policy, the pure part: what a policy says, who it selects, its OVN ACLs.

A policy selects containers (by labels, on one network or on all dockovn networks)
and says from where they accept new connections: containers with other labels,
whole networks, CIDRs; on which protocols and ports. The semantics (README,
"Network policy"):

- A container selected by no policy accepts everything, as before.
- A container selected by one or more policies accepts a new incoming connection
  only if one of those policies allows it. Replies to its own connections, and
  ARP/ND, always pass. Outgoing traffic is not restricted (ingress only).
- A policy with no ``--from*`` and no ``--port`` allows nothing: it isolates.
- ``--from*`` given, no ``--port``: any protocol and port from those sources;
  ``--port`` given, no ``--from*``: those ports from anywhere.
- Destinations (``--to CIDR``, ``--to K=V``, ``--to-network``, ``--to-port``) restrict
  the selected containers' new outgoing connections the same way: only to what one of
  their policies allows. Their names keep answering (the name server is always
  allowed) and so do replies to connections they accept. A policy with destinations
  only leaves incoming traffic as it is.

In OVN each policy is a port group of the containers it selects, with ACLs named
after it: a drop of all IP traffic into its ports (priority 1000), an allow of IPv6
neighbour discovery and one allow-related for what it allows (both 1001), and an
allow-related of what its ports send (900, from-lport): OVN then tracks the selected
containers' own connections, so their replies pass the drop. Sources chosen by label
or network are a second port group whose address sets the allow ACL refers to. So ACLs grow with
policies, never with containers; containers only change group membership. Destinations
are the same, the other way: from-lport drop (1000), allows (1001), a ``_to`` group.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import asdict, dataclass, field

from dockovn.network import external_ids
from dockovn.ovn.port_groups import Acl

NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")
LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-/]{0,127}")
PROTOCOLS = ("tcp", "udp", "icmp")

GROUP_PREFIX = "dkpol_"          # Port_Group names: [a-zA-Z_.][a-zA-Z_.0-9]*
SOURCE_SUFFIX = "_from"
DESTINATION_SUFFIX = "_to"
# a policy name ending so would give its own group the name of another's sources or
# destinations group
RESERVED_NAME_SUFFIXES = {"-from": "sources'", "-to": "destinations'"}
# The name server on every host (network/names), which an egress policy always allows.
NAME_SERVER = "169.254.53.53"
DROP_PRIORITY = 1000
ALLOW_PRIORITY = 1001
# The selected containers' own connections (below any drop, so an egress rule can win).
OWN_CONNECTIONS_PRIORITY = 900
LOG_METER = "dockovn_policy_log"  # rate limit of logged drops (ovn-controller's log)
LOG_RATE = 20                     # log lines a second, at most, per host

# Kept in the policy's Port_Group external_ids, so every host reads the same intent.
POLICY = external_ids.PREFIX + "policy"            # the policy's name
POLICY_SPEC = external_ids.PREFIX + "policy-spec"  # the Policy as JSON


class PolicyError(ValueError):
    """Bad input; the message says which part and why."""


@dataclass(frozen=True)
class Ports:
    """One protocol, all its ports or a range (ICMP has none)."""
    protocol: str
    low: int | None = None
    high: int | None = None

    @classmethod
    def parse(cls, text: str) -> "Ports":
        proto, _, rng = text.strip().lower().partition("/")
        if proto not in PROTOCOLS:
            raise PolicyError(f"port {text!r}: protocol must be one of {', '.join(PROTOCOLS)}")
        if not rng:
            return cls(proto)
        if proto == "icmp":
            raise PolicyError(f"port {text!r}: ICMP has no ports")
        low_s, _, high_s = rng.partition("-")
        try:
            low, high = int(low_s), int(high_s or low_s)
        except ValueError:
            raise PolicyError(f"port {text!r}: {rng!r} is not a port or range like 8000-8080") \
                from None
        if not (1 <= low <= high <= 65535):
            raise PolicyError(f"port {text!r}: ports are 1-65535, low to high")
        return cls(proto, low, high)

    def match(self) -> str:
        if self.protocol == "icmp":
            return "(icmp4 || icmp6)"
        if self.low is None:
            return self.protocol
        if self.low == self.high:
            return f"{self.protocol}.dst == {self.low}"
        return f"({self.protocol}.dst >= {self.low} && {self.protocol}.dst <= {self.high})"

    def __str__(self) -> str:
        if self.low is None:
            return self.protocol
        return f"{self.protocol}/{self.low}" + (f"-{self.high}" if self.high != self.low else "")


Selector = tuple[tuple[str, str | None], ...]  # (key, value); value None: the key is set


def parse_selector(items: tuple[str, ...] | list[str], what: str) -> Selector:
    """``("app=web", "tier")`` -> ``(("app", "web"), ("tier", None))``: all must hold."""
    out = []
    for item in items:
        for part in item.split(","):
            key, eq, value = part.strip().partition("=")
            if not LABEL_KEY.fullmatch(key):
                raise PolicyError(f"{what} {part!r}: a label is KEY=VALUE or KEY, "
                                  "the key of letters, digits and _.-/")
            if eq and not value:
                raise PolicyError(f"{what} {part!r}: empty value (give KEY alone to select "
                                  "any value)")
            out.append((key, value if eq else None))
    return tuple(sorted(set(out), key=lambda kv: (kv[0], kv[1] or "")))


def selector_text(selector: Selector) -> str:
    return ",".join(k if v is None else f"{k}={v}" for k, v in selector) or "(all)"


def matches(selector: Selector, labels: dict[str, str]) -> bool:
    return all(k in labels and (v is None or labels[k] == v) for k, v in selector)


def port_labels(ids: dict[str, str]) -> dict[str, str]:
    """A logical port's labels: the container's (learned from Docker), overridden by the
    endpoint's own (``--driver-opt dockovn.label.KEY=VALUE``, known at CreateEndpoint)."""
    labels = {k[len(external_ids.LABEL_PREFIX):]: v for k, v in ids.items()
              if k.startswith(external_ids.LABEL_PREFIX)}
    labels.update({k[len(external_ids.ENDPOINT_LABEL_PREFIX):]: v for k, v in ids.items()
                   if k.startswith(external_ids.ENDPOINT_LABEL_PREFIX)})
    return labels


@dataclass(frozen=True)
class Policy:
    name: str
    network: str = ""                    # switch name (Docker NetworkID); "": every network
    selector: Selector = ()
    from_selectors: tuple[Selector, ...] = ()
    from_networks: tuple[str, ...] = ()  # switch names
    from_cidrs: tuple[str, ...] = ()
    ports: tuple[Ports, ...] = ()
    to_selectors: tuple[Selector, ...] = ()
    to_networks: tuple[str, ...] = ()    # switch names
    to_cidrs: tuple[str, ...] = ()
    to_ports: tuple[Ports, ...] = ()
    log: bool = False
    # For people only (the switches' names at creation): what `ls` prints.
    network_names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if not NAME.fullmatch(self.name):
            raise PolicyError(f"policy name {self.name!r}: 1-40 of a-z, 0-9 and -, "
                              "starting with a letter")
        for option, cidrs in (("--from-cidr", self.from_cidrs), ("--to", self.to_cidrs)):
            for cidr in cidrs:
                try:
                    ipaddress.ip_network(cidr, strict=True)
                except ValueError as exc:
                    raise PolicyError(f"{option} {cidr!r}: {exc}") from None

    # -- OVN names and ACLs --

    @property
    def group(self) -> str:
        return GROUP_PREFIX + self.name.replace("-", "_")

    @property
    def source_group(self) -> str | None:
        return self.group + SOURCE_SUFFIX if (self.from_selectors or self.from_networks) else None

    @property
    def destination_group(self) -> str | None:
        return self.group + DESTINATION_SUFFIX if (self.to_selectors or self.to_networks) \
            else None

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(g for g in (self.group, self.source_group, self.destination_group) if g)

    @property
    def restricts_egress(self) -> bool:
        return bool(self.to_selectors or self.to_networks or self.to_cidrs or self.to_ports)

    @property
    def isolates_only(self) -> bool:
        return not (self.from_selectors or self.from_networks or self.from_cidrs or self.ports)

    @property
    def restricts_ingress(self) -> bool:
        return not self.restricts_egress or not self.isolates_only

    def acls(self) -> tuple[Acl, ...]:
        if not self.restricts_ingress:
            # What the containers accept (not restricted here) is tracked, so the replies
            # pass the egress drop (the mirror of _own_connections).
            accepted = Acl("to-lport", OWN_CONNECTIONS_PRIORITY,
                           f"outport == @{self.group} && ip", "allow-related", name=self.name)
            return (accepted,) + self._egress_acls()
        return self._ingress_acls() + (self._egress_acls() if self.restricts_egress else ())

    def _own_connections(self) -> tuple[Acl, ...]:
        # Replies to what the selected containers start themselves must pass the drop.
        # OVN lets a reply through only on a connection it tracked, and it tracks only
        # what an allow-related ACL (or a load balancer) on the switch let in: without
        # this one, a policy allowing nothing would cut its containers' own connections.
        return (Acl("from-lport", OWN_CONNECTIONS_PRIORITY, f"inport == @{self.group} && ip",
                    "allow-related", name=self.name),)

    def _egress_acls(self) -> tuple[Acl, ...]:
        out_of = f"inport == @{self.group}"
        drop = Acl("from-lport", DROP_PRIORITY, f"{out_of} && ip", "drop", name=self.name,
                   log=self.log, severity="info" if self.log else "",
                   meter=LOG_METER if self.log else "")
        neighbours = Acl("from-lport", ALLOW_PRIORITY, f"{out_of} && (nd || nd_rs || nd_ra)",
                         "allow", name=self.name)
        names = Acl("from-lport", ALLOW_PRIORITY,
                    f"{out_of} && ip4.dst == {NAME_SERVER} && (udp.dst == 53 || tcp.dst == 53)",
                    "allow-related", name=self.name)
        terms = [out_of, "ip"]
        destinations = self._addresses_match("dst", self.destination_group, self.to_cidrs)
        if destinations:
            terms.append(destinations)
        if self.to_ports:
            terms.append("(" + " || ".join(p.match() for p in self.to_ports) + ")")
        allow = Acl("from-lport", ALLOW_PRIORITY, " && ".join(terms), "allow-related",
                    name=self.name)
        return (drop, neighbours, names, allow)

    def _ingress_acls(self) -> tuple[Acl, ...]:
        into = f"outport == @{self.group}"
        drop = Acl("to-lport", DROP_PRIORITY, f"{into} && ip", "drop", name=self.name,
                   log=self.log, severity="info" if self.log else "",
                   meter=LOG_METER if self.log else "")
        # ARP is not IP and passes anyway; ND, RS and RA are ICMPv6, so IP. OVN refuses
        # `!nd` in a match (a nominal predicate), hence an allow of its own above the drop.
        neighbours = Acl("to-lport", ALLOW_PRIORITY, f"{into} && (nd || nd_rs || nd_ra)",
                         "allow", name=self.name)
        own, = self._own_connections()
        if self.isolates_only:
            return (drop, neighbours, own)
        terms = [into, "ip"]
        sources = self._addresses_match("src", self.source_group, self.from_cidrs)
        if sources:
            terms.append(sources)
        if self.ports:
            terms.append("(" + " || ".join(p.match() for p in self.ports) + ")")
        allow = Acl("to-lport", ALLOW_PRIORITY, " && ".join(terms), "allow-related",
                    name=self.name)
        return (drop, neighbours, own, allow)

    @staticmethod
    def _addresses_match(side: str, group: str | None, cidrs: tuple[str, ...]) -> str:
        """``(ip4.src == $group_ip4 || ... || ip4.src == {cidrs})``, side "src" or "dst"."""
        alternatives = []
        if group:
            alternatives += [f"ip4.{side} == ${group}_ip4", f"ip6.{side} == ${group}_ip6"]
        v4 = [c for c in cidrs if ipaddress.ip_network(c).version == 4]
        v6 = [c for c in cidrs if ipaddress.ip_network(c).version == 6]
        if v4:
            alternatives.append(f"ip4.{side} == {{" + ", ".join(v4) + "}")
        if v6:
            alternatives.append(f"ip6.{side} == {{" + ", ".join(v6) + "}")
        return "(" + " || ".join(alternatives) + ")" if alternatives else ""

    # -- who is in it --

    def selects(self, switch_name: str, labels: dict[str, str]) -> bool:
        return (not self.network or self.network == switch_name) and \
            matches(self.selector, labels)

    def is_source(self, switch_name: str, labels: dict[str, str]) -> bool:
        return switch_name in self.from_networks or \
            any(matches(s, labels) for s in self.from_selectors)

    def is_destination(self, switch_name: str, labels: dict[str, str]) -> bool:
        return switch_name in self.to_networks or \
            any(matches(s, labels) for s in self.to_selectors)

    def groups_of(self, switch_name: str, labels: dict[str, str]) -> list[str]:
        """The port groups of this policy a port on ``switch_name`` with ``labels`` is in."""
        out = []
        if self.selects(switch_name, labels):
            out.append(self.group)
        if self.source_group and self.is_source(switch_name, labels):
            out.append(self.source_group)
        if self.destination_group and self.is_destination(switch_name, labels):
            out.append(self.destination_group)
        return out

    # -- stored form --

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Policy":
        raw = json.loads(text)
        return cls(
            name=raw["name"], network=raw.get("network", ""),
            selector=_selector(raw.get("selector", [])),
            from_selectors=tuple(_selector(s) for s in raw.get("from_selectors", [])),
            from_networks=tuple(raw.get("from_networks", [])),
            from_cidrs=tuple(raw.get("from_cidrs", [])),
            ports=tuple(Ports(**p) for p in raw.get("ports", [])),
            to_selectors=tuple(_selector(s) for s in raw.get("to_selectors", [])),
            to_networks=tuple(raw.get("to_networks", [])),
            to_cidrs=tuple(raw.get("to_cidrs", [])),
            to_ports=tuple(Ports(**p) for p in raw.get("to_ports", [])),
            log=bool(raw.get("log", False)),
            network_names=dict(raw.get("network_names", {})))

    def describe_sources(self) -> str:
        if not self.restricts_ingress:
            return "anywhere"
        parts = [f"labels {selector_text(s)}" for s in self.from_selectors]
        parts += [f"network {self.network_names.get(n, n[:12])}" for n in self.from_networks]
        parts += list(self.from_cidrs)
        return ", ".join(parts) or ("nothing" if self.isolates_only else "anywhere")

    def describe_ports(self) -> str:
        if not self.restricts_ingress:
            return "-"
        return ", ".join(map(str, self.ports)) or ("-" if self.isolates_only else "any")

    def describe_destinations(self) -> str:
        """Where the selected containers may connect to ("anywhere": not restricted)."""
        if not self.restricts_egress:
            return "anywhere"
        parts = [f"labels {selector_text(s)}" for s in self.to_selectors]
        parts += [f"network {self.network_names.get(n, n[:12])}" for n in self.to_networks]
        parts += list(self.to_cidrs)
        where = ", ".join(parts) or "anywhere"
        return where + (" on " + ", ".join(map(str, self.to_ports)) if self.to_ports else "")


def _selector(raw) -> Selector:
    return tuple((k, v) for k, v in raw)

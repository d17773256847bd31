"""The IpamDriver: cluster-wide address pools kept in OVN Northbound.

Each pool is an NB ``Address_Set`` row whose ``addresses`` are the addresses
taken. Every host's driver allocates from the same row, and each allocation is
one transaction that adds the address and claims it with a key of its own in the
pool's external_ids (see ``Northbound.claim``): of two hosts claiming one address
at the same moment exactly one wins, and the other takes the next address. No
duplicates, no lock, no extra service. The gateway, once per network, is taken
in a transaction conditional on the whole set (``Northbound.allocate``).

One network, every host: when another host's driver makes a network appear in
its own dockerd it passes ``--ipam-opt dockovn.network=<switch>``; RequestPool
then hands out the existing pool instead of refusing a subnet already in use,
and the gateway request returns the gateway already reserved.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import re
import socket
import time
from typing import Iterator

from dockovn.network import external_ids
from dockovn.network.api import (
    AddressSpaces,
    DriverError,
    Empty,
    IpamCapabilities,
    ReleaseAddressRequest,
    ReleasePoolRequest,
    RequestAddressReply,
    RequestAddressRequest,
    RequestPoolReply,
    RequestPoolRequest,
)
from dockovn.network.overlay.northbound import nb_call
from dockovn.ovn.nb import AllocationRefused, Northbound, NorthboundError, PoolNotFound

LOG = logging.getLogger(__name__)

ADDRESS_SPACE = "dockovn"
GATEWAY_REQUEST = "com.docker.network.gateway"
REQUEST_TYPE = "RequestAddressType"
JOIN_OPTION = "dockovn.network"  # IPAM and network option: adopt this existing switch
DEFAULT_V4_POOLS = ipaddress.ip_network("10.200.0.0/13")  # handed out as /24s
DEFAULT_V6_POOLS = ipaddress.ip_network("fd00:d0c::/48")   # handed out as /64s

# Address_Set external_ids
POOL_SUBNET = external_ids.PREFIX + "subnet"
POOL_RANGE = external_ids.PREFIX + "range"
POOL_GATEWAY = external_ids.PREFIX + "gateway"
# When each address was handed out ("dockovn:at:<ip>" = "<unix time> <claim>", see
# Northbound.claim; the gateway's: the time alone), set in the allocating transaction and
# dropped on release: gc tells an address a failed `docker rm` left in the pool (no port
# has it, handed out long ago) from one a container is about to use.
ALLOCATED_AT = external_ids.PREFIX + "at:"


# A pool no network uses yet, younger than this, belongs to a create in progress
# (RequestPool and the gateway's RequestAddress come before CreateNetwork).
IN_FLIGHT_SECONDS = 60.0
# How long another host's view of a network waits for the network's switch to reach this
# host's copy of NB (it normally has it already: seeing the switch is what made this host
# ask).
JOIN_WAIT_SECONDS = 5.0


def _age(ids: dict[str, str]) -> float:
    try:
        return time.time() - float(ids.get(external_ids.CREATED_AT, "0"))
    except ValueError:
        return float("inf")


def pool_name(subnet: ipaddress._BaseNetwork) -> str:
    """An Address_Set name (letters, digits, underscores) for a subnet."""
    return "dockovn_pool_" + re.sub(r"[^0-9A-Za-z]", "_", str(subnet))


def switch_pools(switch_ids: dict[str, str]) -> tuple[str, ...]:
    """The pools a network's switch owns: its subnets' pools, if it uses dockovn's IPAM."""
    if switch_ids.get(external_ids.IPAM) != ADDRESS_SPACE:
        return ()
    return tuple(pool_name(ipaddress.ip_network(switch_ids[k]))
                 for k in (external_ids.SUBNET, external_ids.SUBNET6) if k in switch_ids)


def stamp(ip: str) -> dict[str, str]:
    return {ALLOCATED_AT + ip: str(int(time.time()))}


def allocated_at(value: str) -> str:
    """The unix time in an ALLOCATED_AT value (the claim that may follow it dropped)."""
    return value.split(" ", 1)[0]


def pool_id(subnet: ipaddress._BaseNetwork) -> str:
    return f"{ADDRESS_SPACE}/{subnet}"


def parse_pool_id(value: str) -> ipaddress._BaseNetwork:
    space, _, subnet = value.partition("/")
    if space != ADDRESS_SPACE or not subnet:
        raise DriverError(f"pool {value!r} is not a dockovn pool")
    try:
        return ipaddress.ip_network(subnet)
    except ValueError:
        raise DriverError(f"pool {value!r} is not a dockovn pool") from None


def candidates(subnet: ipaddress._BaseNetwork, address_range: str | None) -> Iterator:
    """Usable addresses, lowest first: inside the range (``--ip-range``) if one is set,
    never the subnet's own address nor (IPv4) its broadcast address."""
    within = ipaddress.ip_network(address_range) if address_range else subnet
    for ip in within:
        if ip == subnet.network_address:
            continue
        if subnet.version == 4 and subnet.prefixlen < 31 and ip == subnet.broadcast_address:
            continue
        yield ip


def lowest_free(subnet, address_range, taken: frozenset[str], among: int = 1) -> str:
    """The lowest of ``candidates`` not in ``taken`` (with ``among`` > 1: one of the lowest
    ``among`` free ones, at random). Counted in integers: a pool of 1,000 addresses walked
    as ipaddress objects cost ~1.3 ms a RequestAddress."""
    family = socket.AF_INET6 if subnet.version == 6 else socket.AF_INET
    used = set()
    for address in taken:
        try:
            used.add(int.from_bytes(socket.inet_pton(family, address), "big"))
        except OSError:
            pass  # another family's address, or not one at all
    within = ipaddress.ip_network(address_range) if address_range else subnet
    first, last = int(within.network_address), int(within.broadcast_address)
    skip = {int(subnet.network_address)}
    if subnet.version == 4 and subnet.prefixlen < 31:
        skip.add(int(subnet.broadcast_address))
    free = []
    for value in range(first, last + 1):
        if value not in used and value not in skip:
            free.append(value)
            if len(free) == among:
                break
    if not free:
        raise AllocationRefused(f"no free address left in {address_range or subnet}")
    value = free[0] if among == 1 else random.choice(free)
    return str(ipaddress.IPv4Address(value) if subnet.version == 4
               else ipaddress.IPv6Address(value))


def spread(attempt: int) -> int:
    """How many of the lowest free addresses a claim picks from after losing ``attempt``
    times: every host that allocates at the same moment wants the same lowest address,
    and only one gets it; the others scatter over a few, so the next round mostly wins."""
    return 1 if attempt == 0 else min(64, 8 * attempt)


class OvnIpam:
    def __init__(self, nb: Northbound):
        self.nb = nb

    def get_capabilities(self) -> IpamCapabilities:
        return IpamCapabilities(requires_mac_address=False, requires_request_replay=False)

    def get_default_address_spaces(self) -> AddressSpaces:
        return AddressSpaces(local_default=ADDRESS_SPACE, global_default=ADDRESS_SPACE)

    # -- pools ----------------------------------------------------------------------------

    def request_pool(self, req: RequestPoolRequest) -> RequestPoolReply:
        if req.address_space not in ("", ADDRESS_SPACE):
            raise DriverError(f"unknown address space {req.address_space!r} "
                              f"(dockovn has one: {ADDRESS_SPACE})")
        join = (req.options or {}).get(JOIN_OPTION)
        chosen = not req.pool  # no --subnet: dockovn picks a free one
        subnet = self._subnet(req.pool, req.v6) if req.pool else self._free_subnet(req.v6)
        address_range = self._range(req.sub_pool, subnet)
        for _ in range(16):  # other hosts may create pools at this very moment
            name = pool_name(subnet)
            if not chosen and self.nb.pool(name) is not None:
                self._check_reuse(subnet, join)
                return RequestPoolReply(pool_id=pool_id(subnet), pool=str(subnet))
            try:
                self._check_overlap(subnet)
            except DriverError:
                if not chosen:
                    raise
                subnet = self._free_subnet(req.v6)  # taken since we chose it: choose again
                address_range = self._range(req.sub_pool, subnet)
                continue
            ids = {POOL_SUBNET: str(subnet), external_ids.CREATED_AT: str(int(time.time()))}
            if address_range:
                ids[POOL_RANGE] = address_range
            try:
                # The pool's name is unique in NB: of two requests creating it at
                # once, exactly one succeeds.
                self.nb.create_pool(name, ids)
                LOG.info("pool %s created", subnet)
                return RequestPoolReply(pool_id=pool_id(subnet), pool=str(subnet))
            except NorthboundError:
                if self.nb.pool(name) is None:
                    raise
            if chosen:
                # Another request took the subnet we picked: pick again (never share it).
                subnet = self._free_subnet(req.v6)
                address_range = self._range(req.sub_pool, subnet)
        raise DriverError("could not create an address pool: other requests keep taking "
                          "the same subnets; try again")

    def _subnet(self, pool: str, v6: bool):
        try:
            subnet = ipaddress.ip_network(pool, strict=True)
        except ValueError as exc:
            raise DriverError(f"invalid pool {pool!r}: {exc}") from None
        if (subnet.version == 6) != v6:
            raise DriverError(f"pool {pool} is not an IPv{6 if v6 else 4} subnet")
        return subnet

    @staticmethod
    def _range(sub_pool: str, subnet) -> str | None:
        if not sub_pool:
            return None
        try:
            sub = ipaddress.ip_network(sub_pool, strict=True)
        except ValueError as exc:
            raise DriverError(f"invalid --ip-range {sub_pool!r}: {exc}") from None
        if sub.version != subnet.version or not sub.subnet_of(subnet):
            raise DriverError(f"--ip-range {sub} is not inside {subnet}")
        return str(sub)

    def _networks_using(self, subnet) -> list:
        key = external_ids.SUBNET6 if subnet.version == 6 else external_ids.SUBNET
        return [s for s in self.nb.switches_with(key, str(subnet))
                if s.external_ids.get(external_ids.IPAM) == ADDRESS_SPACE]

    def _check_reuse(self, subnet, join: str | None) -> None:
        users = self._networks_using(subnet)
        deadline = time.monotonic() + JOIN_WAIT_SECONDS
        while join and not any(s.name == join for s in users) and time.monotonic() < deadline:
            # A request replayed right after the create on another host, or a copy of NB
            # a moment behind, can come before the switch it joins: a young pool without
            # its network is then this very network, not another create in progress.
            time.sleep(0.1)
            users = self._networks_using(subnet)
        if not users:
            pool = self.nb.pool(pool_name(subnet))
            if pool is not None and _age(pool.external_ids) < IN_FLIGHT_SECONDS:
                # Docker asks for the pool and the gateway before CreateNetwork: a
                # young pool with no network is another create in progress, not ours.
                raise DriverError(f"subnet {subnet} is being used by a network another "
                                  "request is creating right now")
            return  # left by a create that failed halfway: take it over
        if join and any(s.name == join for s in users):
            return  # another host's view of the same network
        names = ", ".join(s.external_ids.get(external_ids.NETWORK_NAME, s.name[:12]) for s in users)
        raise DriverError(f"subnet {subnet} is already used by dockovn network {names} "
                          "(a network created on one host appears on every host)")

    def _check_overlap(self, subnet) -> None:
        for pool in self.nb.pools():
            other = pool.external_ids.get(POOL_SUBNET)
            if not other:
                continue
            other_net = ipaddress.ip_network(other)
            if other_net.version == subnet.version and other_net.overlaps(subnet):
                raise DriverError(f"subnet {subnet} overlaps dockovn pool {other_net}")

    def _free_subnet(self, v6: bool):
        used = [ipaddress.ip_network(p.external_ids[POOL_SUBNET]) for p in self.nb.pools()
                if POOL_SUBNET in p.external_ids]
        space, prefix = (DEFAULT_V6_POOLS, 64) if v6 else (DEFAULT_V4_POOLS, 24)
        for candidate in space.subnets(new_prefix=prefix):
            if not any(u.version == candidate.version and u.overlaps(candidate) for u in used):
                return candidate
        raise DriverError(f"no free /{prefix} left in {space}; pass --subnet")

    def release_pool(self, req: ReleasePoolRequest) -> Empty:
        subnet = parse_pool_id(req.pool_id)
        if self._networks_using(subnet):
            return Empty()  # the network still exists (other hosts): keep its pool
        nb_call("release pool", self.nb.delete_pool, pool_name(subnet))
        LOG.info("pool %s released", subnet)
        return Empty()

    # -- addresses -------------------------------------------------------------------------

    def request_address(self, req: RequestAddressRequest) -> RequestAddressReply:
        subnet = parse_pool_id(req.pool_id)
        name = pool_name(subnet)
        settings = self.nb.pool_settings(name, POOL_RANGE, POOL_GATEWAY)
        if settings is None:
            raise DriverError(f"pool {req.pool_id} not found")
        address_range = settings.get(POOL_RANGE)
        want = self._address(req.address, subnet) if req.address else None
        is_gateway = (req.options or {}).get(REQUEST_TYPE) == GATEWAY_REQUEST
        if is_gateway:
            gateway = settings.get(POOL_GATEWAY)
            if gateway:  # reserved already: another host's view of this network
                if want is not None and str(want) != gateway:
                    raise DriverError(f"the gateway of {subnet} is {gateway}, not {want}")
                return RequestAddressReply(address=f"{gateway}/{subnet.prefixlen}")
            want = want or next(candidates(subnet, None))
            note = lambda ip: {POOL_GATEWAY: ip, **stamp(ip)}  # noqa: E731  (same transaction)

        def choose(taken: frozenset[str], attempt: int = 0) -> str:
            if want is None:
                return lowest_free(subnet, address_range, taken, spread(attempt))
            if str(want) in taken:
                raise AllocationRefused(f"address {want} is already in use by "
                                        f"{self._holder(subnet, str(want), taken)}")
            return str(want)

        try:
            if is_gateway:
                # Once per network, conditional on the whole pool; a gateway already noted
                # (by a lost-answer re-run, or another host's view) is the answer.
                ip = self.nb.allocate(name, choose, note,
                                      lambda ids: ids.get(POOL_GATEWAY) or None)
                if req.address and ip != str(want):
                    raise DriverError(f"the gateway of {subnet} is {ip}, not {want}")
            else:
                ip = self.nb.claim(name, choose, ALLOCATED_AT)
        except AllocationRefused as exc:
            raise DriverError(str(exc)) from None
        except PoolNotFound:
            raise DriverError(f"pool {req.pool_id} not found") from None
        except NorthboundError as exc:
            raise DriverError(str(exc)) from exc
        return RequestAddressReply(address=f"{ip}/{subnet.prefixlen}")

    @staticmethod
    def _address(value: str, subnet):
        try:
            ip = ipaddress.ip_address(value.split("/")[0])
        except ValueError as exc:
            raise DriverError(f"invalid address {value!r}: {exc}") from None
        if ip not in subnet:
            raise DriverError(f"address {ip} is outside the pool {subnet}")
        return ip

    def _holder(self, subnet, ip: str, taken: frozenset[str]) -> str:
        """Who holds ``ip``, in words a user can act on."""
        for switch in self._networks_using(subnet):
            network = switch.external_ids.get(external_ids.NETWORK_NAME, switch.name[:12])
            if switch.external_ids.get(external_ids.GATEWAY) == ip or \
                    switch.external_ids.get(external_ids.GATEWAY6) == ip:
                return f"the gateway of network {network}"
            for port in self.nb.ports(switch.name):
                if any(ip in entry.split()[1:] for entry in port.addresses):
                    who = port.external_ids.get(external_ids.CONTAINER_NAME) or \
                        f"endpoint {port.name[:12]}"
                    return f"{who} on network {network}"
        return "another endpoint (or an --aux-address)"

    def release_address(self, req: ReleaseAddressRequest) -> Empty:
        subnet = parse_pool_id(req.pool_id)
        name = pool_name(subnet)
        settings = self.nb.pool_settings(name, POOL_GATEWAY)
        ip = req.address.split("/")[0]
        if settings is None:
            return Empty()
        forget: tuple[str, ...] = (ALLOCATED_AT + ip,)
        users = self._networks_using(subnet)
        if settings.get(POOL_GATEWAY) == ip:
            if users:
                return Empty()  # shared by every host's view of the network
            forget = (POOL_GATEWAY, ALLOCATED_AT + ip)
        if any(ip in s.external_ids.get(external_ids.AUX_ADDRESSES, "").split() for s in users):
            # Docker releases the aux addresses of its own view of the network; the
            # network (and its reservations) lives on while it exists on any host, and
            # they go with the pool when the network is deleted.
            return Empty()
        nb_call("release address", self.nb.release, name, ip, forget)
        return Empty()


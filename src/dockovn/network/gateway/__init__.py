"""Egress and published ports through the host a container runs on (no docker_gwbridge).

Docker gives a container on a remote driver's network a second endpoint, on its
``docker_gwbridge``, for the way out and for ``-p``, unless the driver answers Join with a
gateway. dockovn answers with one: a link-local address of the network's own (the same on
every host), so it takes no address from the network's subnet, whoever's IPAM gave it, and
a container on several networks gets a route to each one's. Join also returns a connected
/32 route to it (it is outside the container's subnet).

In OVN each such network has one ``localport`` with that address (``host-<network>``,
chosen at CreateNetwork among those no other network's localport has):
a port every chassis binds to its own interface, whose traffic never crosses a tunnel.
On each host with containers on the network an OVS internal port (``dgw<network>``)
binds it, in the host's own stack, holding that address and MAC and a route to the subnet.
So a container's way out always leads into its own host, where the kernel does what it
does for Docker's bridge: source NAT to the host's address (unless the network says
``-o dockovn.nat=false``), DNAT of published ports (host/firewall.py). This is
ovn-kubernetes' "local gateway" mode, with one gateway address for every host instead
of one per node subnet (dockovn's subnets span hosts).

Networks made before this (no ``host-`` port) and ``--internal`` ones get no gateway:
the first keep Docker's gwbridge as before, the second have no way out.
"""

import hashlib
import ipaddress

LOCALPORT_PREFIX = "host-"     # + the network (switch) name
# Gateway addresses: 169.254.100.1 - 169.254.163.254, clear of the name server
# (169.254.53.53) and of clouds' metadata service (169.254.169.254).
_FIRST, _ROWS, _PER_ROW = int(ipaddress.IPv4Address("169.254.100.0")), 64, 254


def gateway_address(network_id: str, taken: set[str]) -> str:
    """The network's gateway address: where its name's hash points, or the next one
    ``taken`` (other networks' gateways) does not hold."""
    start = int(hashlib.sha256(network_id.encode()).hexdigest(), 16) % (_ROWS * _PER_ROW)
    for i in range(_ROWS * _PER_ROW):
        n = (start + i) % (_ROWS * _PER_ROW)
        address = str(ipaddress.IPv4Address(_FIRST + 256 * (n // _PER_ROW) + 1 + n % _PER_ROW))
        if address not in taken:
            return address
    raise ValueError("every gateway address is taken")

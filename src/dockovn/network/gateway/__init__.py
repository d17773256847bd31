"""Egress and published ports through the host a container runs on (no docker_gwbridge).

Docker gives a container on a remote driver's network a second endpoint, on its
``docker_gwbridge``, for the way out and for ``-p``, unless the driver answers Join with a
gateway. dockovn answers with one, the same on every network and host: ``HOST_GATEWAY``,
a link-local address (so it takes no address from the network's subnet, whoever's IPAM
gave it), reached through a connected /32 route Join also returns.

In OVN each such network has one ``localport`` with that address (``host-<network>``):
a port every chassis binds to its own interface, whose traffic never crosses a tunnel.
On each host with containers on the network an OVS internal port (``dgw<network>``)
binds it, in the host's own stack, holding ``HOST_GATEWAY`` and a route to the subnet.
So a container's way out always leads into its own host, where the kernel does what it
does for Docker's bridge: source NAT to the host's address (unless the network says
``-o dockovn.nat=false``), DNAT of published ports (host/firewall.py). This is
ovn-kubernetes' "local gateway" mode, with one gateway address for every host instead
of one per node subnet (dockovn's subnets span hosts).

Networks made before this (no ``host-`` port) and ``--internal`` ones get no gateway:
the first keep Docker's gwbridge as before, the second have no way out.
"""

from dockovn.network import identifiers

HOST_GATEWAY = "169.254.1.1"   # every container's default gateway on a dockovn network
HOST_GATEWAY_MAC = identifiers.mac_for_ipv4(HOST_GATEWAY)
LOCALPORT_PREFIX = "host-"     # + the network (switch) name

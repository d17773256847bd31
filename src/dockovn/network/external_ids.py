"""The external_ids keys dockovn writes into OVN NB and local OVS.

Docker does not replay CreateNetwork/CreateEndpoint after a restart, so
everything the driver must remember lives in these keys, never only in memory.
Every key starts with ``dockovn:`` so our rows are easy to tell from others'.
"""

PREFIX = "dockovn:"

# Logical_Switch
NETWORK_ID = PREFIX + "network-id"      # Docker's NetworkID (also the switch's name)
NETWORK_NAME = PREFIX + "name"          # learned from Docker events, after creation
SUBNET = PREFIX + "subnet"              # IPv4 CIDR
GATEWAY = PREFIX + "gateway"            # IPv4 address Docker's IPAM reserved
SUBNET6 = PREFIX + "subnet6"
GATEWAY6 = PREFIX + "gateway6"
MTU = PREFIX + "mtu"
CREATED_BY = PREFIX + "created-by"      # host (OVS system-id) whose dockerd created it
IPAM = PREFIX + "ipam"                  # "dockovn": cluster-wide pool; "docker": host-local
# Other hosts' dockerds know the same network under their own NetworkIDs:
# one key per alias, "dockovn:docker-id:<NetworkID>" = "<host> <unix time>", added by a
# map mutate (see alias_value; values written before the time was added hold the host).
DOCKER_ID_PREFIX = PREFIX + "docker-id:"

ROUTER = PREFIX + "router"              # the named router (-o dockovn.router), if any
AUX_ADDRESSES = PREFIX + "aux-addresses"  # --aux-address reservations, space-separated: kept
                                        # in the pool while the network exists on any host
CREATED_AT = PREFIX + "created-at"      # unix time; `dockovn gc` spares what is younger
EGRESS = PREFIX + "egress"              # "nat" or "routed": the network leaves through each
                                        # container's host (network/gateway); "none":
                                        # --internal; absent: made before (Docker's gwbridge)

# Logical_Switch_Port
ENDPOINT_ID = PREFIX + "endpoint-id"
HOST = PREFIX + "host"                  # host (OVS system-id) whose driver created the endpoint
HOSTNAME = PREFIX + "hostname"          # the same host's name, for people
CONTAINER_ID = PREFIX + "container-id"
CONTAINER_NAME = PREFIX + "container-name"
ALIASES = PREFIX + "aliases"            # the endpoint's network aliases, space-separated
                                        # (names across hosts answer them)
# Labels network policies select by (network/policy): the container's labels, learned
# from Docker ("dockovn:label:<key>"), and the endpoint's own, given as driver options
# `--network name=N,driver-opt=dockovn.label.<key>=<value>` and so known when the port
# is created ("dockovn:endpoint-label:<key>"); the endpoint's win.
LABEL_PREFIX = PREFIX + "label:"
ENDPOINT_LABEL_PREFIX = PREFIX + "endpoint-label:"
# Service registry for the client-side balancer (dockovn.balancer), from container
# labels dockovn.service / dockovn.port: a port is an instance of service SERVICE,
# listening on SERVICE_PORT (a TCP port number, as a string).
SERVICE = PREFIX + "service"
SERVICE_PORT = PREFIX + "service-port"

# Load_Balancer (one per service and network, `dockovn service create`): SERVICE and
# NETWORK_ID name the service and its switch; the rest is what create chose, so
# every host's backend reconciler (and `service delete`) reads the same intent.
VIP = PREFIX + "vip"                    # "IP:PORT" clients connect to
TARGET_PORT = PREFIX + "target-port"    # backend port for every instance (absent: each
                                        # instance's own SERVICE_PORT)
HEALTH_CHECK_IP = PREFIX + "health-check-ip"  # source of OVN's probes (absent: no checks)
RESERVED = PREFIX + "reserved"          # addresses taken from the network's dockovn pool,
                                        # space-separated, released on delete

# local OVS Interface (next to OVN's own iface-id / attached-mac / iface-status)
OVS_ENDPOINT = "dockovn-endpoint"
OVS_NETWORK = "dockovn-network"
OVS_PUBLISHED = "dockovn-published"     # a container port's published ports (JSON)
OVS_GATEWAY = "dockovn-gateway"         # the host's gateway port of network (switch) ...
OVS_SUBNETS = "dockovn-subnets"         # ... routing these subnets (space-separated),
OVS_EGRESS = "dockovn-egress"           # ... its switch's EGRESS
OVS_GATEWAY_IP = "dockovn-gateway-ip"   # ... holding the network's gateway address
# local OVS Open_vSwitch row: TCP ports of this host's (the metrics') that no container
# may reach, here or on another host (space-separated; host/firewall.py drops them)
OVS_HOST_ONLY_PORTS = "dockovn-host-only-tcp-ports"
# What an encrypted tunnel carries (the WireGuard device's MTU), as `host join` set it up:
# the driver's default container MTU is this minus Geneve's overhead.
OVS_TUNNEL_MTU = "dockovn-tunnel-mtu"


def alias_value(host: str, now: float) -> str:
    """A network alias's value: the host whose dockerd has it, and when it was added
    (`dockovn gc` spares a young alias: its dockerd may not have stored the network yet)."""
    return f"{host} {int(now)}"


def alias_host(value: str) -> str:
    return value.split(" ", 1)[0]


def alias_created_at(value: str) -> str:
    """The alias's creation time as CREATED_AT holds one ("0", long ago, if unknown)."""
    _, _, at = value.partition(" ")
    return at or "0"

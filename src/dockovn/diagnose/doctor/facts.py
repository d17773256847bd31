"""What `dockovn doctor` reads, as plain values: the checks judge these, never a live
connection, so every judgement is a pure function a unit test can feed."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockovn.host.ovs import InterfaceState

TUNNEL_TYPES = ("geneve", "vxlan", "stt")


@dataclass(frozen=True)
class OvsFacts:
    error: str = ""                      # "" when the OVS database answered
    vswitchd_running: bool = False
    bridge: str = "br-int"
    bridge_exists: bool = False
    datapath_type: str = ""              # "netdev": userspace; "system": kernel
    config: dict[str, str] = field(default_factory=dict)  # Open_vSwitch external_ids
    interfaces: tuple[InterfaceState, ...] = ()

    @property
    def system_id(self) -> str:
        return self.config.get("system-id", "")

    @property
    def encap_ips(self) -> tuple[str, ...]:
        return tuple(ip.strip() for ip in self.config.get("ovn-encap-ip", "").split(",")
                     if ip.strip())

    @property
    def encap_type(self) -> str:
        return self.config.get("ovn-encap-type", "")

    def tunnels(self) -> list[InterfaceState]:
        return [i for i in self.interfaces if i.type in TUNNEL_TYPES]


@dataclass(frozen=True)
class ControllerFacts:
    running: bool
    connection: str = ""   # "connected", "not connected"; "" when it could not be asked
    detail: str = ""       # why it could not be asked


@dataclass(frozen=True)
class LocalAddress:
    ifname: str
    mtu: int


@dataclass(frozen=True)
class ChassisRow:
    """An SB Chassis with its tunnel endpoints ((type, ip), ...)."""
    name: str
    hostname: str
    encaps: tuple[tuple[str, str], ...]

    @property
    def ips(self) -> set[str]:
        return {ip for _, ip in self.encaps}


@dataclass(frozen=True)
class TunnelTraffic:
    """Packets a tunnel interface sent and received during the probe window."""
    sent: int
    received: int


@dataclass(frozen=True)
class DriverFacts:
    socket: str
    exists: bool
    answered: bool = False
    implements: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class DockerEndpoint:
    endpoint_id: str
    container_id: str
    container: str          # name
    network: str            # Docker's network name


@dataclass(frozen=True)
class DockerFacts:
    error: str = ""                               # "" when dockerd answered
    networks: dict[str, str] = field(default_factory=dict)  # dockovn network ID -> name
    endpoints: dict[str, DockerEndpoint] = field(default_factory=dict)  # by endpoint ID
    plugin_reached: bool | None = None            # None: not probed
    plugin_detail: str = ""


@dataclass(frozen=True)
class Offload:
    """A container interface's tx checksum offload (None: could not be read, and why)."""
    container: str
    tx_checksum_on: bool | None
    detail: str = ""

"""The typed requests and replies of libnetwork's remote NetworkDriver API.

Field aliases are Docker's JSON names (moby libnetwork/drivers/remote/api);
attribute names are Python's. Validation is strict: a wrong type is an error,
never a silent coercion, and IDs must be non-empty. Docker sends Go nil slices
and maps as JSON null, so optional containers accept None.
"""

from __future__ import annotations

import os

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field



class Message(BaseModel):
    model_config = ConfigDict(populate_by_name=True, strict=True, extra="ignore",
                              frozen=True)


class Reply(BaseModel):
    """A reply: serialised with Docker's names, leaving out what is unset."""

    model_config = ConfigDict(populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)



# -- requests ---------------------------------------------------------------------


class IPAMData(Message):
    address_space: str = Field("", alias="AddressSpace")
    pool: str = Field(alias="Pool")
    gateway: str = Field("", alias="Gateway")
    aux_addresses: dict[str, str] | None = Field(None, alias="AuxAddresses")


class CreateNetworkRequest(Message):
    network_id: str = Field(alias="NetworkID", min_length=1)
    options: dict[str, Any] | None = Field(None, alias="Options")
    ipv4_data: list[IPAMData] | None = Field(None, alias="IPv4Data")
    ipv6_data: list[IPAMData] | None = Field(None, alias="IPv6Data")


class NetworkRequest(Message):
    """DeleteNetwork, FreeNetwork."""

    network_id: str = Field(alias="NetworkID", min_length=1)


class EndpointInterface(Message):
    address: str = Field("", alias="Address")
    address_ipv6: str = Field("", alias="AddressIPv6")
    mac_address: str = Field("", alias="MacAddress")


class CreateEndpointRequest(Message):
    network_id: str = Field(alias="NetworkID", min_length=1)
    endpoint_id: str = Field(alias="EndpointID", min_length=1)
    interface: EndpointInterface | None = Field(None, alias="Interface")
    options: dict[str, Any] | None = Field(None, alias="Options")


class EndpointRequest(Message):
    """DeleteEndpoint, EndpointOperInfo, Leave, Revoke/ProgramExternalConnectivity."""

    network_id: str = Field(alias="NetworkID", min_length=1)
    endpoint_id: str = Field(alias="EndpointID", min_length=1)
    options: dict[str, Any] | None = Field(None, alias="Options")


class JoinRequest(Message):
    network_id: str = Field(alias="NetworkID", min_length=1)
    endpoint_id: str = Field(alias="EndpointID", min_length=1)
    sandbox_key: str = Field(alias="SandboxKey", min_length=1)
    options: dict[str, Any] | None = Field(None, alias="Options")


class DiscoveryRequest(Message):
    discovery_type: int = Field(alias="DiscoveryType")
    discovery_data: Any = Field(None, alias="DiscoveryData")


# -- IPAM requests (libnetwork docs/ipam.md) ---------------------------------------------


class RequestPoolRequest(Message):
    address_space: str = Field("", alias="AddressSpace")
    pool: str = Field("", alias="Pool")
    sub_pool: str = Field("", alias="SubPool")
    options: dict[str, str] | None = Field(None, alias="Options")
    v6: bool = Field(False, alias="V6")


class ReleasePoolRequest(Message):
    pool_id: str = Field(alias="PoolID", min_length=1)


class RequestAddressRequest(Message):
    pool_id: str = Field(alias="PoolID", min_length=1)
    address: str = Field("", alias="Address")
    options: dict[str, str] | None = Field(None, alias="Options")


class ReleaseAddressRequest(Message):
    pool_id: str = Field(alias="PoolID", min_length=1)
    address: str = Field(alias="Address", min_length=1)


# -- replies ----------------------------------------------------------------------------


class Capabilities(Reply):
    scope: str = Field(alias="Scope")
    connectivity_scope: str = Field(alias="ConnectivityScope")


class EndpointInterfaceReply(Reply):
    address: str | None = Field(None, alias="Address")
    address_ipv6: str | None = Field(None, alias="AddressIPv6")
    mac_address: str | None = Field(None, alias="MacAddress")


class CreateEndpointReply(Reply):
    # Only what Docker did not give: it refuses a reply that restates a field.
    interface: EndpointInterfaceReply | None = Field(None, alias="Interface")


class EndpointOperInfoReply(Reply):
    value: dict[str, Any] = Field(default_factory=dict, alias="Value")


class InterfaceName(Reply):
    src_name: str = Field(alias="SrcName")
    dst_prefix: str = Field(alias="DstPrefix")


class StaticRoute(Reply):
    destination: str = Field(alias="Destination")
    route_type: int = Field(alias="RouteType")  # 0: via next hop, 1: connected
    next_hop: str | None = Field(None, alias="NextHop")


class JoinReply(Reply):
    interface_name: InterfaceName = Field(alias="InterfaceName")
    gateway: str | None = Field(None, alias="Gateway")
    gateway_ipv6: str | None = Field(None, alias="GatewayIPv6")
    static_routes: list[StaticRoute] | None = Field(None, alias="StaticRoutes")
    disable_gateway_service: bool | None = Field(None, alias="DisableGatewayService")


class Empty(Reply):
    pass


class IpamCapabilities(Reply):
    requires_mac_address: bool = Field(alias="RequiresMACAddress")
    # No replay: pools and addresses live in NB and survive dockerd restarts.
    requires_request_replay: bool = Field(alias="RequiresRequestReplay")


class AddressSpaces(Reply):
    local_default: str = Field(alias="LocalDefaultAddressSpace")
    global_default: str = Field(alias="GlobalDefaultAddressSpace")


class RequestPoolReply(Reply):
    pool_id: str = Field(alias="PoolID")
    pool: str = Field(alias="Pool")
    data: dict[str, str] = Field(default_factory=dict, alias="Data")


class RequestAddressReply(Reply):
    address: str = Field(alias="Address")  # "ip/prefixlen"
    data: dict[str, str] = Field(default_factory=dict, alias="Data")


# The name dockerd knows the driver by, in `docker network ls` and its filters: "dockovn"
# for the legacy plugin; a managed plugin is "NAME:TAG" ("dockovn:latest"), which its
# config.json sets here. The socket is always dockovn.sock.
DRIVER_NAME = os.environ.get("DOCKOVN_DRIVER_NAME") or "dockovn"


# -- what the protocol layer needs of a backend ---------------------------------------------


class DriverError(Exception):
    """A request that was understood but cannot be done; the message goes to the user.

    The protocol layer knows only this error: each backend translates its own (OVN's,
    Neutron's, the host's) into it, saying what the request could not do and why."""


class NetworkDriver(Protocol):
    def get_capabilities(self) -> Capabilities: ...
    def create_network(self, req: CreateNetworkRequest) -> Empty: ...
    def delete_network(self, req: NetworkRequest) -> Empty: ...
    def create_endpoint(self, req: CreateEndpointRequest) -> CreateEndpointReply: ...
    def endpoint_oper_info(self, req: EndpointRequest) -> EndpointOperInfoReply: ...
    def delete_endpoint(self, req: EndpointRequest) -> Empty: ...
    def join(self, req: JoinRequest) -> JoinReply: ...
    def leave(self, req: EndpointRequest) -> Empty: ...


class IpamDriver(Protocol):
    def get_capabilities(self) -> IpamCapabilities: ...
    def get_default_address_spaces(self) -> AddressSpaces: ...
    def request_pool(self, req: RequestPoolRequest) -> RequestPoolReply: ...
    def release_pool(self, req: ReleasePoolRequest) -> Empty: ...
    def request_address(self, req: RequestAddressRequest) -> RequestAddressReply: ...
    def release_address(self, req: ReleaseAddressRequest) -> Empty: ...

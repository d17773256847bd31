"""One-time set-up of an OpenStack VM for underlay mode (the seed's step 2).

The VM's uplink becomes a port of an Open vSwitch bridge (breth0) that takes
over the uplink's MAC, addresses and routes, so the VM keeps its address and
its port security in Neutron still matches. Container veths later join the
bridge as VLAN access ports; the uplink carries their tagged frames out.
Idempotent: a second run finds everything in place and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockovn.deploy import openvswitch, procs
from dockovn.deploy.openvswitch import OvsPaths
from dockovn.host import links


@dataclass(frozen=True)
class VmConfig:
    bridge: str = "breth0"
    uplink: str = "eth0"
    ovs: OvsPaths = field(default_factory=OvsPaths)


@dataclass(frozen=True)
class VmSetupResult:
    datapath: str
    moved: list[str]


def setup(cfg: VmConfig) -> VmSetupResult:
    try:
        mac = links.mac_of(cfg.uplink)
    except links.LinkError as exc:
        raise procs.SetupError(f"uplink {cfg.uplink}: {exc}") from exc
    openvswitch.start(cfg.ovs)
    datapath = "system" if openvswitch.kernel_datapath_available() else "netdev"
    vsctl = ["ovs-vsctl", f"--db={cfg.ovs.remote}"]
    procs.run([*vsctl, "--may-exist", "add-br", cfg.bridge,
               "--", "set", "Bridge", cfg.bridge, f"datapath_type={datapath}",
               f"other-config:hwaddr=\"{mac}\"",
               "--", "--may-exist", "add-port", cfg.bridge, cfg.uplink],
              f"making bridge {cfg.bridge} with uplink {cfg.uplink}", env=cfg.ovs.env)
    procs.wait_for(lambda: links.exists(cfg.bridge), 10, f"interface {cfg.bridge}")
    try:
        links.set_up(cfg.bridge)
        if datapath == "netdev":
            # The userspace datapath does not finish checksums left for offload:
            # packets the VM's own stack sends through the bridge must be complete.
            links.disable_tx_checksum(cfg.bridge)
            links.disable_tx_checksum(cfg.uplink)
        moved = links.move_ipv4(cfg.uplink, cfg.bridge)
    except links.LinkError as exc:
        raise procs.SetupError(str(exc)) from exc
    return VmSetupResult(datapath, moved)


"""`dockovn vm setup`: prepare an OpenStack VM for underlay mode."""

from __future__ import annotations

import click

from dockovn.cli.common import console, friendly_errors
from dockovn.deploy import vm
from dockovn.deploy.openvswitch import OvsPaths

_ovs = OvsPaths()


@click.group("vm")
def vm_group() -> None:
    """This OpenStack VM's bridge for containers on Neutron networks (underlay mode)."""


@vm_group.command("setup")
@click.option("--bridge", default="breth0", show_default=True, help="The bridge to make.")
@click.option("--uplink", default="eth0", show_default=True,
              help="The VM's NIC on its Neutron port (OS_VIF_ID).")
@click.option("--ovs-rundir", default=_ovs.rundir, show_default=True)
@click.option("--ovs-dbdir", default=_ovs.dbdir, show_default=True)
@click.option("--ovs-logdir", default=_ovs.logdir, show_default=True)
@friendly_errors
def setup(bridge, uplink, ovs_rundir, ovs_dbdir, ovs_logdir) -> None:
    """Put the uplink on an OVS bridge that takes over its addresses (idempotent)."""
    result = vm.setup(vm.VmConfig(bridge, uplink, OvsPaths(ovs_rundir, ovs_dbdir, ovs_logdir)))
    for line in result.moved:
        console.print(f"  moved {line} from {uplink} to {bridge}")
    console.print(f"VM ready: {uplink} is a port of {bridge} ({result.datapath} datapath)")

"""Encrypted tunnels on a host: what `host join` does when the central requires them,
and `dockovn host wireguard-peers` (the daemon that keeps the peers, started by it)."""

from __future__ import annotations

import logging
import os
import signal

import click

from dockovn.cli.common import console
from dockovn.deploy.encryption import service
from dockovn.deploy.encryption.datapath import Endpoint, ensure
from dockovn.deploy.openvswitch import OvsPaths
from dockovn.host.ovs import LocalSwitch
from dockovn.network import external_ids
from dockovn.network.overlay.driver import GENEVE_OVERHEAD
from dockovn.ovsdb import SslFiles


def _endpoint(chassis: str, address: str, network: str, namespace: str, rundir: str,
              ovs_remote: str) -> Endpoint:
    return Endpoint(name=chassis, address=address, network=network, namespace=namespace,
                    rundir=rundir, ovs_remote=ovs_remote)


def encrypted_tunnels(installed, encryption: dict, underlay: str, namespace: str,
                      host: dict) -> None:
    """The WireGuard endpoint, the MTU it leaves containers, and the peer sync."""
    if encryption.get("kind") != "wireguard":
        raise click.ClickException(f"the central requires {encryption.get('kind')!r} "
                                   "encryption, which this dockovn does not know")
    ovs = OvsPaths(host["ovs_rundir"], host["ovs_dbdir"], host["ovs_logdir"])
    ep = _endpoint(installed.chassis, encryption["address"], encryption["network"], namespace,
                   host["ovn_rundir"], ovs.remote)
    public = ensure(ep)
    switch = LocalSwitch(ovs.remote, "br-int")
    try:
        switch.set_host_config({external_ids.OVS_TUNNEL_MTU: str(ep.mtu)})
    finally:
        switch.close()
    service.start(ep, installed.sb, installed.files, installed.chassis, underlay)
    console.print(f"  encrypted tunnels: WireGuard {ep.device} (key {public}), tunnel address "
                  f"{ep.address}, via {underlay}; container MTU {ep.mtu - GENEVE_OVERHEAD}")


@click.command("wireguard-peers", hidden=True)
@click.option("--sb", "sb_remote", required=True)
@click.option("--ssl-key", required=True)
@click.option("--ssl-cert", required=True)
@click.option("--ssl-ca", required=True)
@click.option("--chassis", required=True)
@click.option("--underlay", required=True)
@click.option("--address", required=True)
@click.option("--network", required=True)
@click.option("--namespace", required=True)
@click.option("--rundir", required=True)
@click.option("--pidfile", required=True)
def wireguard_peers(sb_remote, ssl_key, ssl_cert, ssl_ca, chassis, underlay, address, network,
                    namespace, rundir, pidfile) -> None:
    """Keep this host's WireGuard peers equal to the keys the other hosts publish."""
    from dockovn.deploy.encryption.peers import PeerSync
    from dockovn.ovn.sb import Southbound
    from dockovn.ovn.tunnel_keys import TunnelKeys

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ep = _endpoint(chassis, address, network, namespace, rundir, "")
    sb = Southbound(sb_remote, timeout=10.0, ssl=SslFiles(ssl_key, ssl_cert, ssl_ca))
    sync = PeerSync(TunnelKeys(sb), chassis, ep, underlay)
    signal.signal(signal.SIGTERM, lambda *_: sync.stop())
    with open(pidfile, "w") as f:
        f.write(f"{os.getpid()}\n")
    try:
        sync.run()
    finally:
        sb.close()
        if os.path.exists(pidfile):
            os.unlink(pidfile)


COMMANDS = (wireguard_peers,)  # under `dockovn host`

"""Encrypted tunnels: what `host join` does when the central requires them, `dockovn
host wireguard-peers` (the daemon that keeps the peers, started by it) and `dockovn
central rotate-tunnel-keys`."""

from __future__ import annotations

import logging
import os
import signal

import click

from dockovn.cli.central import central_options
from dockovn.cli.common import console, friendly_errors
from dockovn.deploy import central
from dockovn.deploy.encryption import rotation, service
from dockovn.deploy.encryption.datapath import Endpoint, ensure, remove
from dockovn.deploy.pki.admin import host_trust
from dockovn.deploy.openvswitch import OvsPaths
from dockovn.host.ovs import LocalSwitch
from dockovn.network import external_ids
from dockovn.network.overlay.driver import GENEVE_OVERHEAD
from dockovn.ovn.tunnel_keys import TunnelKeys
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
    ensure(ep)
    switch = LocalSwitch(ovs.remote, "br-int")
    try:
        switch.set_host_config({external_ids.OVS_TUNNEL_MTU: str(ep.mtu)})
    finally:
        switch.close()
    service.start(ep, installed.sb, installed.files, installed.chassis, underlay)
    console.print(f"  encrypted tunnels: WireGuard {ep.device(0)} and {ep.device(1)} (keys "
                  f"made here, in {ep.keys_path}), tunnel address {ep.address}, via "
                  f"{underlay}; container MTU {ep.mtu - GENEVE_OVERHEAD}")


def no_encrypted_tunnels(namespace: str, host: dict) -> None:
    """A host set up without encryption keeps nothing of an earlier encrypted set-up:
    the peer sync, the WireGuard devices and br-wg go, and containers get the plain
    tunnel's MTU again."""
    ovs = OvsPaths(host["ovs_rundir"], host["ovs_dbdir"], host["ovs_logdir"])
    switch = LocalSwitch(ovs.remote, "br-int")
    try:
        config = switch.host_config()
        if not config.get(external_ids.OVS_TUNNEL_MTU):
            return  # never encrypted here
        ep = _endpoint(config.get("system-id", ""), "", "", namespace, host["ovn_rundir"],
                       ovs.remote)
        service.stop(ep)
        remove(ep)
        switch.set_host_config({external_ids.OVS_TUNNEL_MTU: ""})
    finally:
        switch.close()
    console.print("  encrypted tunnels: removed (this host's tunnels are not encrypted: "
                  "hosts of a central that requires encryption exchange nothing with it)")


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


@click.command("rotate-tunnel-keys")
@click.option("--timeout", default=60.0, show_default=True,
              help="Seconds each step may wait for the hosts.")
@central_options
@friendly_errors
def rotate_tunnel_keys(timeout: float, **kwargs) -> None:
    """Give every host a new WireGuard key without dropping traffic: the new keys are
    handed out and tried beside the old ones, then hosts send with them and the old
    ones are retired. Run on any member; run again if a step timed out."""
    cfg = central.CentralConfig(**kwargs)
    with host_trust(cfg.sock("sb")) as trust:
        required = trust.encryption()
        if required is None:
            raise click.ClickException("the central does not encrypt tunnels (`dockovn "
                                       "central start --encrypt-tunnels`): no keys to rotate")
        done = rotation.rotate(TunnelKeys(trust.sb), required[1], timeout, console.print)
    console.print(f"rotated: {len(done.hosts)} host(s) send with key generation "
                  f"{done.generation} ({', '.join(done.hosts) or 'none yet'}); the keys "
                  "before it open nothing any more")


HOST_COMMANDS = (wireguard_peers,)
CENTRAL_COMMANDS = (rotate_tunnel_keys,)

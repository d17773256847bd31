"""`dockovn host setup|status`: the one-time set-up of a host (chassis)."""

from __future__ import annotations

import socket

import click

from dockovn.cli.common import console, err_console, friendly_errors, status_table
from dockovn.cli.encryption import encrypted_tunnels, no_encrypted_tunnels
from dockovn.deploy import chassis, docker_dns, dockerd
from dockovn.deploy.encryption import ENCRYPTED_ZONE
from dockovn.deploy.pki import bundle as pki_bundle
from dockovn.deploy.pki import join as pki_join
from dockovn.network.names.service import DEFAULT_ADDRESS as DEFAULT_DNS_ADDRESS
from dockovn.deploy.openvswitch import OvsPaths
from dockovn.ovsdb import SslFiles

_ovs = OvsPaths()
_host = chassis.HostConfig()


def host_options(fn):
    for opt in reversed([
        click.option("--ovs-rundir", default=_ovs.rundir, show_default=True),
        click.option("--ovs-dbdir", default=_ovs.dbdir, show_default=True),
        click.option("--ovs-logdir", default=_ovs.logdir, show_default=True),
        click.option("--ovn-rundir", default=_host.ovn_rundir, show_default=True),
        click.option("--ovn-logdir", default=_host.ovn_logdir, show_default=True),
    ]):
        fn = opt(fn)
    return fn


def _config(ovs_rundir, ovs_dbdir, ovs_logdir, **kwargs) -> chassis.HostConfig:
    return chassis.HostConfig(ovs=OvsPaths(ovs_rundir, ovs_dbdir, ovs_logdir), **kwargs)


@click.group("host")
def host_group() -> None:
    """This host's Open vSwitch and ovn-controller."""


PKI_DIR = "/etc/dockovn/pki"


def joining_options(fn):
    """What `host setup` and `host join` share: the tunnel and names across hosts."""
    for opt in reversed([
        click.option("--encap-ip", required=True, help="This host's tunnel endpoint address."),
        click.option("--encap-type", type=click.Choice(["geneve", "vxlan"]), default="geneve",
                     show_default=True),
        click.option("--docker-config", default=docker_dns.DAEMON_JSON, show_default=True,
                     help="dockerd's daemon.json: names across hosts put dockovn's name "
                          "server first in its `dns` list (other settings are kept)."),
        click.option("--dns-upstream", multiple=True,
                     help="Name servers for everything else [default: daemon.json's own "
                          "`dns`, else the host's resolv.conf]. Repeatable."),
        click.option("--dns-address", default=DEFAULT_DNS_ADDRESS, show_default=True,
                     help="dockovn's name server on this host (the driver's --dns-address)."),
        click.option("--no-names", is_flag=True,
                     help="Leave daemon.json alone (no names across hosts)."),
        click.option("--encryption-namespace", default="dkovn-wg", show_default=True,
                     help="The network namespace of this host's WireGuard devices, when the "
                          "central requires encrypted tunnels."),
    ]):
        fn = opt(fn)
    return fn


@host_group.command("join")
@click.argument("token")
@click.argument("central_address", metavar="CENTRAL")
@click.option("--hostname", default=None,
              help="This host's name in OVN, its chassis and certificate CN "
                   "[default: the machine's].")
@click.option("--pki-dir", default=PKI_DIR, show_default=True,
              help="Where this host's key and certificate live.")
@joining_options
@host_options
@friendly_errors
def join(token, central_address, hostname, pki_dir, encryption_namespace, docker_config,
         dns_upstream, dns_address, no_names, **kwargs) -> None:
    """Join the central at CENTRAL (ADDR or ADDR:PORT of its identity service) with the
    TOKEN `dockovn central join-token` printed, then set the host up (idempotent).

    The central is checked against the token's CA digest before anything is sent or
    changed; this host's key is made here and never leaves it.
    """
    name = hostname or socket.gethostname()
    installed, encryption = pki_join.join_central(pki_dir, token, central_address, name)
    console.print(f"joined as {installed.chassis}: NB {installed.nb}, SB {installed.sb}")
    underlay = kwargs["encap_ip"]
    if encryption:  # Geneve between tunnel addresses, inside WireGuard over the underlay
        kwargs["encap_ip"] = encryption["address"]
        kwargs["transport_zones"] = ENCRYPTED_ZONE
    _setup(installed.files, installed.chassis, "", installed.nb, installed.sb, docker_config,
           dns_upstream, dns_address, no_names, hostname=hostname, **kwargs)
    if encryption:
        encrypted_tunnels(installed, encryption, underlay, encryption_namespace, kwargs)
    else:
        no_encrypted_tunnels(encryption_namespace, kwargs)


@host_group.command("setup")
@click.option("--bundle", default=None, type=click.Path(exists=True, dir_okay=False),
              help="What `dockovn central issue-cert HOST` wrote: CA, this host's "
                   "certificate and the central's addresses (or use `host join`).")
@click.option("--pki-dir", default=PKI_DIR, show_default=True,
              help="Where --bundle's files are installed.")
@click.option("--central", default=None,
              help="Central address(es) (a,b,c for a Raft cluster) [default: the bundle's]; "
                   "'local' for the central on this machine (unix sockets); "
                   "tcp:/ssl:/unix: connection strings are taken as given.")
@click.option("--insecure-tcp", is_flag=True,
              help="Bare --central addresses mean plain TCP (a central started with "
                   "--insecure-tcp).")
@click.option("--nb", default=None, help="NB connection string (default: from --central, port 6641).")
@click.option("--sb", default=None, help="SB connection string (default: from --central, port 6642).")
@click.option("--hostname", default=None, help="This host's name in OVN (default: the machine's).")
@joining_options
@click.option("--ssl-key", default=None, help="Private key (ovs-pki): talk to central over SSL.")
@click.option("--ssl-cert", default=None, help="This host's certificate.")
@click.option("--ssl-ca", default=None, help="CA certificate central's is checked against.")
@host_options
@friendly_errors
def setup(ssl_key, ssl_cert, ssl_ca, bundle, pki_dir, central, nb, sb, docker_config,
          dns_upstream, dns_address, no_names, encryption_namespace, **kwargs) -> None:
    """Point Open vSwitch at OVN and start ovn-controller (idempotent)."""
    given = [f for f in (ssl_key, ssl_cert, ssl_ca) if f]
    if given and len(given) != 3:
        raise click.UsageError("--ssl-key, --ssl-cert and --ssl-ca go together")
    if given and bundle:
        raise click.UsageError("--bundle brings its own SSL files: drop --ssl-*")
    ssl = SslFiles(ssl_key, ssl_cert, ssl_ca) if given else None
    name = None
    if bundle:
        installed = pki_bundle.install_file(bundle, pki_dir)
        ssl, name = installed.files, installed.chassis
        if not central:
            nb, sb = nb or installed.nb, sb or installed.sb
    if not (central or (nb and sb)):
        raise click.UsageError("say where the central is: `dockovn host join TOKEN CENTRAL`, "
                               "--bundle (from `dockovn central issue-cert`), --central ADDR, "
                               "or --central local")
    _setup(ssl, name, central or "", nb, sb, docker_config, dns_upstream, dns_address,
           no_names, **kwargs)
    no_encrypted_tunnels(encryption_namespace, kwargs)


def _setup(ssl, name, central, nb, sb, docker_config, dns_upstream, dns_address, no_names,
           **kwargs) -> None:
    result = chassis.setup(_config(ssl=ssl, chassis=name, central=central, nb=nb, sb=sb,
                                   **kwargs))
    for key, value in result.settings.items():
        if value:
            console.print(f"  {key} = {value}")
    console.print("host ready: ovn-controller running, br-int present")
    if not no_names:
        configure_docker_dns(docker_config, dns_address, list(dns_upstream) or None)


def configure_docker_dns(path: str, address: str, upstreams: list[str] | None) -> bool:
    """Names across hosts: dockovn's name server first in dockerd's DNS servers.
    Says when dockerd must be restarted; True if daemon.json changed."""
    try:
        changed, servers = docker_dns.configure(path, address, upstreams)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    console.print(f"  dockerd dns ({path}) = {', '.join(servers)}")
    if changed and dockerd.answers(dockerd.DockerdConfig().host):
        err_console.print("[yellow]restart dockerd[/] to apply its new DNS servers (it reads "
                          "them only at start): names across hosts start working then")
    return changed


@host_group.command("status")
@host_options
def status(**kwargs) -> None:
    """Show this host's OVS and ovn-controller; exit 1 if any is stopped."""
    statuses = chassis.status(_config(**kwargs))
    console.print(status_table("dockovn host", statuses))
    if not all(s.running for s in statuses):
        raise SystemExit(1)

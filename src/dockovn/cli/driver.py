"""`dockovn driver`: run the plugin in the foreground until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import socket

import click

from dockovn import metrics
from dockovn.cli.cloud import open_neutron, password_if_needed, underlay_options
from dockovn.cli.common import host_connection
from dockovn.host import firewall, links
from dockovn.host.docker_engine import DEFAULT_DOCKER_HOST, DockerEngine
from dockovn.host.ovs import DEFAULT_OVS_DB, LocalSwitch, OvsError
from dockovn.host.vm_bridge import VmBridge
from dockovn.metrics.daemons import DaemonCounters
from dockovn.metrics.exporter import DEFAULT_ADDRESS as DEFAULT_METRICS_ADDRESS
from dockovn.metrics.exporter import parse_address, serve_metrics
from dockovn.metrics.state import DriverState
from dockovn.network import collector, external_ids
from dockovn.network.overlay import usage
from dockovn.network.policy.membership import MembershipSync
from dockovn.network.services.reconciler import BackendSync
from dockovn.network.overlay.gc import Collector
from dockovn.network.overlay.ipam import OvnIpam
from dockovn.network.overlay.docker_events import NameSync
from dockovn.network.names.service import DEFAULT_ADDRESS as DEFAULT_DNS_ADDRESS
from dockovn.network.names.service import NamesService
from dockovn.network.overlay.replication import NetworkReplicator
from dockovn.network.services.manager import Services
from dockovn.network.overlay.driver import DEFAULT_MTU, GENEVE_OVERHEAD, OverlayDriver
from dockovn.network.underlay.driver import UnderlayDriver
from dockovn.network.underlay.gc import UnderlayCollector
from dockovn.network.underlay.ipam import NeutronIpam
from dockovn.ovn.nb import Northbound
from dockovn.ovsdb import SslFiles, internals
from dockovn.plugin.server import PLUGIN_DIR, PluginApp, serve, socket_path

LOG = logging.getLogger("dockovn.driver")


def run_driver(mode: str, nb_remote: str | None, ovs_db: str, bridge: str | None,
               plugin_dir: str, mtu: int, docker_host: str, request_timeout: float,
               pidfile: str | None, gc_min_age: float, gc_interval: float = 30.0,
               dns_address: str = DEFAULT_DNS_ADDRESS, os_cloud: str | None = None,
               neutron_url: str | None = None, vif_id: str | None = None,
               os_password: str | None = None, ssl_dir: str | None = None,
               names_resync: float = 60.0, metrics_address: str = DEFAULT_METRICS_ADDRESS,
               ovn_rundir: str = "/var/run/ovn") -> None:
    if metrics_address:
        try:
            parse_address(metrics_address)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--metrics-address") from None
    if pidfile:
        write_pidfile(pidfile)
    if mode == "underlay":
        plugin, background, closers = underlay_plugin(
            ovs_db, bridge or "breth0", docker_host, request_timeout, gc_min_age, gc_interval,
            os_cloud, neutron_url, vif_id, os_password)
    else:
        plugin, background, closers = overlay_plugin(
            nb_remote, ovs_db, bridge or "br-int", mtu, docker_host, request_timeout, gc_min_age,
            gc_interval, dns_address, ssl_dir, names_resync, metrics_address)

    # OVS's and OVN's own counters: the daemons beside the OVS database and in ovn_rundir
    metrics.REGISTRY.register(DaemonCounters([_rundir_of(ovs_db), ovn_rundir]))

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        served = [serve(plugin, socket_path("dockovn", plugin_dir), stop)]
        if metrics_address:
            served.append(serve_metrics(metrics_address, metrics.REGISTRY, stop,
                                        allow=not_from_a_container))
        await asyncio.gather(*served)

    for task in background:
        task()
    try:
        asyncio.run(main())
    finally:
        for close in closers:
            close()
        if pidfile and os.path.exists(pidfile):
            os.unlink(pidfile)


def _rundir_of(ovs_db: str) -> str:
    """The folder of a unix: OVS database socket (where OVS's daemons keep theirs)."""
    if ovs_db.startswith("unix:"):
        return os.path.dirname(ovs_db[len("unix:"):])
    return "/var/run/openvswitch"


def _close_to_containers(ovs: LocalSwitch, host_config: dict[str, str],
                         metrics_address: str) -> None:
    """Metrics on an address beyond loopback: no container may reach that port, here or
    (through this host's NAT) on another host. The gateway ports' firewall reads it
    from OVS (network/gateway/host_ports.py) and is rewritten at start."""
    closed = ""
    if metrics_address:
        host, port = parse_address(metrics_address)
        if not ipaddress.ip_address(host).is_loopback:
            closed = str(port)
    if host_config.get(external_ids.OVS_HOST_ONLY_PORTS, "") != closed:
        ovs.set_host_config({external_ids.OVS_HOST_ONLY_PORTS: closed})


def not_from_a_container(peer: str) -> bool:
    """Whether ``peer`` is not behind one of this host's container gateway ports."""
    interface = links.route_interface(peer) if peer else None
    return not (interface or "").startswith(firewall.PORT_PREFIX)


def overlay_plugin(nb_remote, ovs_db, bridge, mtu, docker_host, request_timeout, gc_min_age,
                   gc_interval, dns_address, ssl_dir=None, names_resync=60.0,
                   metrics_address=""):
    """OVN logical switches (overlay mode): the driver, OVN IPAM, and the watchers."""
    recorded_nb, _, ssl = host_connection(ovs_db)  # SSL files: OVS's SSL row (host setup)
    if ssl is not None and ssl_dir:
        ssl = SslFiles(*(os.path.join(ssl_dir, os.path.basename(path))
                         for path in (ssl.key, ssl.cert, ssl.ca)))
    nb_remote = nb_remote or recorded_nb
    nb = Northbound(nb_remote, timeout=request_timeout, ssl=ssl)  # bounded per request too
    ovs = LocalSwitch(ovs_db, bridge, timeout=request_timeout)
    host_config = ovs.host_config()
    host_id = host_config.get("system-id") or socket.gethostname()
    hostname = host_config.get("hostname") or socket.gethostname()
    userspace = ovs.datapath_type() == "netdev"
    if mtu is None:  # encrypted tunnels carry less (host join records how much)
        tunnel_mtu = host_config.get(external_ids.OVS_TUNNEL_MTU)
        mtu = int(tunnel_mtu) - GENEVE_OVERHEAD if tunnel_mtu else DEFAULT_MTU
    _close_to_containers(ovs, host_config, metrics_address)
    driver = OverlayDriver(nb, ovs, host_id, default_mtu=mtu, userspace_datapath=userspace,
                           hostname=hostname)
    docker_names = NameSync(nb, lambda: DockerEngine(docker_host), resync_seconds=names_resync)
    replicator = NetworkReplicator(nb, lambda: DockerEngine(docker_host),
                                   deleting=driver.pending_deletes)
    backends = BackendSync(Services(nb))  # service VIPs' backends follow the registry
    policies = MembershipSync(nb, host_id)  # this host's ports in their policies' groups
    # The host's gateway ports and firewall as OVS records them (a reboot forgot them).
    background = [driver.connectivity.start, docker_names.start, replicator.start,
                  backends.start, policies.start]
    closers = [docker_names.stop, replicator.stop, backends.stop, policies.stop]
    if dns_address:  # names across hosts (off the request path)
        resolver = NamesService(nb, lambda: DockerEngine(docker_host), dns_address)
        background.append(lambda: _start_names(resolver))
        closers.append(resolver.stop)
    if gc_min_age >= 0:  # reconcile with NB, OVS and dockerd (off the request path)
        background.append(lambda: collector.run_in_background(
            Collector(nb, ovs, host_id, lambda: DockerEngine(docker_host), gc_min_age),
            interval=gc_interval))
    LOG.info("dockovn driver (overlay): host %s (%s), NB %s, OVS %s (%s datapath), MTU %d",
             hostname, host_id, nb_remote, ovs_db, "userspace" if userspace else "kernel", mtu)
    plugin = PluginApp(driver, OvnIpam(nb), request_timeout=request_timeout)
    metrics.REGISTRY.register(DriverState(lambda: usage.connections(nb, ovs),
                                          lambda: usage.pools(nb),
                                          lambda: usage.ports_here(nb, ovs)))
    return plugin, background, closers + [nb.close, ovs.close]


def _start_names(resolver: NamesService) -> None:
    try:
        resolver.start()
    except Exception as exc:  # the plugin works without it; names stay per host
        LOG.error("names across hosts are off: cannot serve DNS on %s: %s",
                  resolver.address, exc)


def underlay_plugin(ovs_db, bridge, docker_host, request_timeout, gc_min_age, gc_interval,
                    os_cloud, neutron_url, vif_id, password):
    """Neutron child ports behind the VM's bridge (underlay mode)."""
    neutron = open_neutron(os_cloud, neutron_url, vif_id, password, request_timeout)
    try:
        vm_bridge = VmBridge(ovs_db, bridge, timeout=request_timeout)
    except OvsError as exc:
        raise click.ClickException(str(exc)) from exc
    if not vm_bridge.has_bridge():
        raise click.ClickException(f"bridge {bridge} does not exist: run `dockovn vm setup "
                                   f"--bridge {bridge} --uplink <NIC>` first")
    userspace = vm_bridge.datapath_type() == "netdev"
    driver = UnderlayDriver(neutron, vm_bridge, vif_id, userspace_datapath=userspace)
    LOG.info("dockovn driver (underlay): VM port %s, bridge %s (%s datapath)", vif_id, bridge,
             "userspace" if userspace else "kernel")
    ipam = NeutronIpam(neutron, vm_bridge, vif_id)
    plugin = PluginApp(driver, ipam, request_timeout=request_timeout)
    background = []
    if gc_min_age >= 0:  # what a Neutron outage left (off the request path)
        background.append(lambda: collector.run_in_background(UnderlayCollector(
            neutron, vm_bridge, vif_id, lambda: DockerEngine(docker_host), gc_min_age),
            interval=gc_interval))
    return plugin, background, [neutron.close, vm_bridge.close]


def write_pidfile(path: str) -> None:
    """Record this process so `dockovn down` (and the tests) can stop it by pid."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(f"{os.getpid()}\n")


@click.command("driver")
@click.option("--mode", type=click.Choice(["overlay", "underlay"]), default="overlay",
              show_default=True, envvar="DOCKOVN_MODE",
              help="overlay: OVN logical switches across hosts; underlay: containers in an "
                   "OpenStack VM on Neutron networks (OS_* credentials, OS_VIF_ID).")
@click.option("--nb", "nb_remote", default=None, envvar="DOCKOVN_NB",
              help="OVN Northbound connection, comma-separated for a cluster "
                   "[default: as `dockovn host setup` recorded it, else the local unix socket].")
@click.option("--ovs-db", default=DEFAULT_OVS_DB, show_default=True, envvar="DOCKOVN_OVS_DB",
              help="Local Open vSwitch database.")
@click.option("--bridge", default=None,
              help="The bridge containers plug into [default: br-int; underlay: breth0].")
@click.option("--plugin-dir", default=PLUGIN_DIR, show_default=True,
              help="Where dockerd looks for plugin sockets.")
@click.option("--mtu", default=None, type=click.IntRange(1280, 65535), envvar="DOCKOVN_MTU",
              help=f"Default container MTU: the tunnel's MTU minus Geneve's 58 bytes "
                   f"[default: {DEFAULT_MTU}; on a host with encrypted tunnels, what `host "
                   f"join` recorded for them minus 58].")
@click.option("--docker-host", default=DEFAULT_DOCKER_HOST, show_default=True,
              envvar="DOCKER_HOST", help="Docker API, used off the request path for names.")
@click.option("--request-timeout", default=10.0, show_default=True,
              envvar="DOCKOVN_REQUEST_TIMEOUT",
              help="Seconds before a plugin request is answered with an error.")
@click.option("--pidfile", default=None, help="Write the driver's pid here (removed on exit).")
@click.option("--gc-min-age", default=60.0, show_default=True,
              help="At start and every --gc-interval, remove stale state older than this many "
                   "seconds (`dockovn gc`); negative: never. Keep it above --request-timeout.")
@click.option("--dns-address", default=DEFAULT_DNS_ADDRESS, show_default=True,
              envvar="DOCKOVN_DNS_ADDRESS",
              help="This host's address for names across hosts (the first of dockerd's "
                   "DNS servers, see `host setup`); '' turns them off.")
@click.option("--ssl-dir", default=None, envvar="DOCKOVN_SSL_DIR",
              help="Read the SSL files `host setup` recorded from this folder instead (the "
                   "managed plugin sees the host's pki folder at another path).")
@click.option("--gc-interval", default=30.0, show_default=True,
              help="Seconds between gc passes while the driver runs (0: only at start).")
@click.option("--metrics-address", default=DEFAULT_METRICS_ADDRESS, show_default=True,
              envvar="DOCKOVN_METRICS_ADDRESS",
              help="Serve Prometheus metrics on http://ADDRESS/metrics ('' turns them off). "
                   "The default is this host's loopback; to let Prometheus on another "
                   "machine scrape, give an address it reaches (containers are refused "
                   "on every address).")
@click.option("--ovn-rundir", default="/var/run/ovn", show_default=True,
              help="Where ovn-controller's (and a central's) control sockets are, for the "
                   "OVN counters in the metrics.")
@click.option("--names-resync", default=60.0, show_default=True,
              type=click.FloatRange(1, 86400),
              help="Seconds between passes copying every container's name and labels from "
                   "Docker to NB, whatever its events said (the bound on a missed event).")
@underlay_options
def driver_command(**kwargs) -> None:
    """Run the Docker network plugin in the foreground."""
    # Refuse to start on python-ovs/ovsdbapp internals other than the ones this code was
    # written against: a changed one drops address claims or misreports timeouts
    # without an error of its own (dockovn/ovsdb/internals.py lists them).
    try:
        internals.check()
    except internals.InternalsChanged as exc:
        raise click.ClickException(str(exc)) from exc
    if kwargs["mode"] == "underlay":
        kwargs["os_password"] = password_if_needed(kwargs["os_cloud"])
    run_driver(**kwargs)


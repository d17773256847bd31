"""Reading this host for `dockovn doctor`: Open vSwitch, ovn-controller, addresses, the
driver's socket, dockerd. Reads only, except one refused `docker network create` that
proves dockerd reaches the plugin (see ``probe_plugin``). Doctor is not on the plugin's
request path, so asking the daemons' control sockets through their tools is fine.
"""

from __future__ import annotations

import glob
import http.client
import json
import os
import subprocess
import uuid

from pyroute2 import IPRoute

from dockovn.deploy import procs
from dockovn.deploy.encryption.datapath import device_name
from dockovn.host import wireguard
from dockovn.host.docker_engine import DockerEngine, same_driver
from dockovn.host.ovs import LocalSwitch, OvsError
from dockovn.host.unix_http import UnixHTTPConnection
from dockovn.network import external_ids
from dockovn.network.api import DRIVER_NAME
from dockovn.diagnose.doctor import offload
from dockovn.diagnose.doctor.facts import (ControllerFacts, DockerEndpoint, DockerFacts,
                                                   DriverFacts, LocalAddress, Offload, OvsFacts)

APPCTL_TIMEOUT = 5.0
SOCKET = "dockovn.sock"  # the legacy plugin's in the plugin folder; a managed one's in <id>/
# A `-o` option dockovn refuses by name: CreateNetwork fails before anything is written.
PROBE_OPTION = "dockovn.doctor-probe"


def open_switch(ovs_db: str, bridge: str, timeout: float) -> tuple[LocalSwitch | None, str]:
    try:
        return LocalSwitch(ovs_db, bridge, timeout=timeout), ""
    except OvsError as exc:
        return None, str(exc)


def read_ovs(switch: LocalSwitch | None, error: str, bridge: str, ovs_rundir: str) -> OvsFacts:
    if switch is None:
        return OvsFacts(error=error, bridge=bridge)
    try:
        return OvsFacts(vswitchd_running=_vswitchd_running(ovs_rundir), bridge=bridge,
                        bridge_exists=switch.has_bridge(), datapath_type=switch.datapath_type(),
                        config=switch.host_config(), interfaces=tuple(switch.interfaces()))
    except Exception as exc:  # the DB went away after answering
        return OvsFacts(error=str(exc) or type(exc).__name__, bridge=bridge)


def _vswitchd_running(rundir: str) -> bool:
    if procs.running(os.path.join(rundir, "ovs-vswitchd.pid"), "ovs-vswitchd"):
        return True
    # No pidfile where we look (another packaging): its control socket answering will do.
    for ctl in glob.glob(os.path.join(rundir, "ovs-vswitchd*.ctl")):
        if _appctl(ctl, "version")[0]:
            return True
    return False


def _appctl(target: str, *args: str) -> tuple[bool, str]:
    try:
        done = subprocess.run(["ovs-appctl", "-t", target, *args], capture_output=True,
                              text=True, timeout=APPCTL_TIMEOUT)
    except FileNotFoundError:
        return False, "ovs-appctl is not installed"
    except subprocess.TimeoutExpired:
        return False, f"no answer from {target} in {APPCTL_TIMEOUT:g}s"
    if done.returncode != 0:
        return False, (done.stderr or done.stdout).strip()
    return True, done.stdout.strip()


def read_controller(ovn_rundir: str) -> ControllerFacts:
    pid = procs.running(os.path.join(ovn_rundir, "ovn-controller.pid"), "ovn-controller")
    if not pid:
        return ControllerFacts(running=False)
    # ovn-controller names its control socket after its pid, in OVN_RUNDIR.
    ctl = os.path.join(ovn_rundir, f"ovn-controller.{pid}.ctl")
    answered, text = _appctl(ctl, "connection-status")
    if not answered:
        return ControllerFacts(running=True, detail=text)
    return ControllerFacts(running=True, connection=text.splitlines()[0] if text else "")


def local_addresses() -> dict[str, LocalAddress]:
    """Every address of this network namespace -> its interface and that interface's MTU."""
    with IPRoute() as ipr:
        links = {link["index"]: (link.get_attr("IFLA_IFNAME"), link.get_attr("IFLA_MTU"))
                 for link in ipr.get_links()}
        out = {}
        for addr in ipr.get_addr():
            ip = addr.get_attr("IFA_ADDRESS")
            name, mtu = links.get(addr["index"], ("?", 0))
            if ip:
                out[ip] = LocalAddress(name, mtu or 0)
        return out


def probe_driver(plugin_dir: str, timeout: float) -> DriverFacts:
    """Ask the driver's socket what dockerd asks first: /Plugin.Activate."""
    path = os.path.join(plugin_dir, SOCKET)
    if not os.path.exists(path):
        return DriverFacts(path, exists=False)
    conn = UnixHTTPConnection(path, timeout)
    try:
        conn.request("POST", "/Plugin.Activate", body=b"{}",
                     headers={"Content-Type": "application/json"})
        reply = json.loads(conn.getresponse().read() or b"{}")
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return DriverFacts(path, exists=True, error=str(exc) or type(exc).__name__)
    finally:
        conn.close()
    return DriverFacts(path, exists=True, answered=True,
                       implements=tuple(reply.get("Implements") or ()))


def managed_plugin(docker_host: str, timeout: float) -> tuple[str, str] | None:
    """(name, ID) of an enabled managed dockovn plugin in this dockerd, if there is one:
    its socket is then in a folder of its own, and networks name it NAME:TAG."""
    try:
        engine = DockerEngine(docker_host, timeout=timeout)
    except Exception:
        return None
    try:
        return next(((p["Name"], p["Id"]) for p in engine.client.api.plugins()
                     if p.get("Enabled") and same_driver(p.get("Name", ""), DRIVER_NAME)), None)
    except Exception:
        return None
    finally:
        engine.close()


def read_docker(docker_host: str, timeout: float, probe: bool,
                driver_name: str = DRIVER_NAME) -> DockerFacts:
    """dockerd's dockovn networks and this host's endpoints on them; with ``probe``,
    whether dockerd reaches the plugin."""
    try:
        engine = DockerEngine(docker_host, timeout=timeout)
    except Exception as exc:
        return DockerFacts(error=str(exc) or type(exc).__name__)
    try:
        networks, endpoints = {}, {}
        for net in engine.networks(driver_name):
            raw = {"Id": net.id, "Name": net.name}
            networks[raw["Id"]] = raw["Name"]
            detail = engine.client.api.inspect_network(raw["Id"])
            for container_id, info in (detail.get("Containers") or {}).items():
                if info.get("EndpointID"):
                    endpoints[info["EndpointID"]] = DockerEndpoint(
                        info["EndpointID"], container_id, info.get("Name", ""), raw["Name"])
        reached, detail = probe_plugin(docker_host, driver_name) if probe else (None, "")
        return DockerFacts(networks=networks, endpoints=endpoints, plugin_reached=reached,
                           plugin_detail=detail)
    except Exception as exc:
        return DockerFacts(error=str(exc) or type(exc).__name__)
    finally:
        engine.close()


PLUGIN_PROBE_TIMEOUT = 10.0


def probe_plugin(docker_host: str, driver_name: str = DRIVER_NAME) -> tuple[bool, str]:
    """Whether dockerd reaches the dockovn plugin: Docker has no API that lists legacy
    plugins (`docker info` names a network driver only once a network uses it), so doctor
    asks dockerd to create a network with an option dockovn refuses. dockovn's refusal
    coming back proves dockerd found and called the plugin; nothing is created (the
    driver validates options before any write). dockerd keeps looking for a plugin it
    cannot find for 30 s: no answer within PLUGIN_PROBE_TIMEOUT means it did not."""
    name = f"dockovn-doctor-{uuid.uuid4().hex[:8]}"
    engine = DockerEngine(docker_host, timeout=PLUGIN_PROBE_TIMEOUT)
    try:
        try:
            engine.client.api.create_network(name, driver=driver_name,
                                             options={PROBE_OPTION: "1"})
        except Exception as exc:
            text = str(getattr(exc, "explanation", None) or exc)
            if PROBE_OPTION in text:
                return True, "dockerd reached the plugin (it refused doctor's probe, as it should)"
            if "Read timed out" in text or "timed out" in text.lower():
                return False, (f"dockerd got no answer from the plugin within "
                               f"{PLUGIN_PROBE_TIMEOUT:g}s (it cannot find it)")
            return False, text
        engine.remove_network(name)  # an older driver accepted the option: undo it
        return True, "dockerd reached the plugin"
    finally:
        engine.close()


def read_offloads(docker_host: str, timeout: float, interfaces) -> dict[str, Offload]:
    """endpoint ID -> tx checksum offload of its container interface, for every
    container port on the bridge (``interfaces``: InterfaceState with dockovn-endpoint)."""
    engine = DockerEngine(docker_host, timeout=timeout)
    try:
        by_endpoint = {}
        for raw in engine.client.api.containers():
            info = engine.client.api.inspect_container(raw["Id"])
            pid = (info.get("State") or {}).get("Pid") or 0
            name = info.get("Name", "").lstrip("/")
            for net in ((info.get("NetworkSettings") or {}).get("Networks") or {}).values():
                if net.get("EndpointID"):
                    by_endpoint[net["EndpointID"]] = (name, pid)
    finally:
        engine.close()
    out = {}
    for iface in interfaces:
        endpoint = iface.external_ids.get(external_ids.OVS_ENDPOINT)
        mac = iface.external_ids.get("attached-mac", "")
        if not endpoint or endpoint not in by_endpoint:
            continue
        name, pid = by_endpoint[endpoint]
        if not pid or not mac:
            out[endpoint] = Offload(name, None, "container not running")
            continue
        on, why = offload.tx_checksum_on(pid, mac)
        out[endpoint] = Offload(name, on, why)
    return out


def wireguard_peers(chassis: str, slot: int) -> tuple[list[wireguard.PeerState] | None, str]:
    """What this host's WireGuard device of ``slot`` says of its peers (None, why: no
    device)."""
    try:
        return wireguard.show(device_name(chassis, slot)), ""
    except wireguard.WireGuardError as exc:
        return None, str(exc)

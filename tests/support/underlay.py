"""OpenStack underlay on one machine: a real Neutron, a hypervisor, two "VMs".

    central ns (dkul-c): ulbr 172.31.254.1 -- OVN NB/SB + northd, MariaDB, neutron-server
      |- hv ns (dkul-hv): OVS + ovn-controller, br-int (the hypervisor)
      |     |- vm1-eth0 (iface-id = VM1's Neutron port)  ---- vm1 ns: eth0 in breth0
      |     |- vm2-eth0 (iface-id = VM2's Neutron port)  ---- vm2 ns: eth0 (a plain VM)
      |     '- vm3-eth0 (iface-id = VM3's Neutron port)  ---- vm3 ns: eth0 in breth0
      '- mgmt veths to vm1 and vm3 (172.31.254.21, .23): how they reach the Neutron API

VM1 and VM3 are set up the way a user sets up an OpenStack VM: `dockovn vm
setup --bridge breth0 --uplink eth0`, then their own dockerd and `dockovn
driver --mode underlay` with OS_VIF_ID = their port. Most tests use VM1; VM3
shows containers of two VMs on one Neutron network. Neutron runs with noauth
(no Keystone).
Neutron networks: "vmnet" (the VMs' own ports), "appnet" (VM2 is on it; the
tests adopt it for containers).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import docker
import openstack
import openstack.exceptions

from dockovn.deploy import procs

from tests.support import neutron as neutron_service
from tests.support import wait
from tests.support.multihost import (dockovn, in_ns, remove_leftovers, sh, start_dockerd,
                                     start_driver)

BASE = "/tmp/dkul"
PREFIX = "dkul-"
MGMT = "172.31.254"
CENTRAL_IP = f"{MGMT}.1"
HV_IP = f"{MGMT}.10"
VMNET_CIDR = "192.168.77.0/24"
APPNET_CIDR = "10.77.0.0/24"
CENTRAL_NS, HV_NS, VM1_NS, VM2_NS, VM3_NS = (PREFIX + n for n in ("c", "hv", "vm1", "vm2",
                                                                   "vm3"))
DOCKOVN_VMS = ("vm1", "vm3")  # with dockerd and the driver; vm2 is a plain VM


@dataclass
class Vm:
    ns: str
    dir: str
    port: dict            # its Neutron port (id, mac_address, fixed_ips)

    @property
    def ip(self) -> str:
        return self.port["fixed_ips"][0]["ip_address"]

    @property
    def ovs_db(self) -> str:
        return f"unix:{self.dir}/db.sock"

    @property
    def plugins(self) -> str:
        return os.path.join(self.dir, "plugins")

    @property
    def docker_host(self) -> str:
        return f"unix://{self.dir}/docker.sock"

    def pidfile(self, daemon: str) -> str:
        return os.path.join(self.dir, f"{daemon}.pid")

    def vsctl(self, *args: str) -> str:
        return in_ns(self.ns, "ovs-vsctl", f"--db={self.ovs_db}", *args).stdout


@dataclass
class Underlay:
    neutron: neutron_service.Neutron
    conn: object                  # openstacksdk Connection (noauth) for the tests' checks
    vm1: Vm
    vm2: Vm
    vm3: Vm
    networks: dict = field(default_factory=dict)  # name -> Neutron network id
    timings: dict = field(default_factory=dict)

    @property
    def nb(self) -> str:
        return f"unix:{os.path.join(BASE, 'central')}/ovnnb_db.sock"

    def docker(self, vm: Vm | None = None) -> docker.DockerClient:
        return docker.DockerClient(base_url=(vm or self.vm1).docker_host, timeout=120)

    def driver_env(self, vm: Vm | None = None) -> dict[str, str]:
        return {"OS_VIF_ID": (vm or self.vm1).port["id"],
                "DOCKOVN_NEUTRON_URL": self.neutron.url}


def connect(url: str):
    return openstack.connect(auth_type="none", network_endpoint_override=url + "/")


def start() -> Underlay:
    t0 = time.monotonic()
    teardown()
    try:
        _namespaces()
        central = os.path.join(BASE, "central")
        # The cloud's own central, inside these namespaces; Neutron talks plain TCP to it
        # here (underlay mode never touches the central: its VMs talk to Neutron only).
        dockovn(CENTRAL_NS, "central", "start", "--rundir", central, "--dbdir", central,
                "--logdir", central, "--nb-addr", CENTRAL_IP, "--sb-addr", CENTRAL_IP,
                "--insecure-tcp")
        hv = os.path.join(BASE, "hv")
        dockovn(HV_NS, "host", "setup", "--central", CENTRAL_IP, "--insecure-tcp",
                "--encap-ip", HV_IP,
                "--hostname", "hv", "--ovs-rundir", hv, "--ovs-dbdir", hv, "--ovs-logdir", hv,
                "--ovn-rundir", hv, "--ovn-logdir", hv)
        t1 = time.monotonic()
        svc = neutron_service.start(os.path.join(BASE, "neutron"),
                                    nb=f"tcp:{CENTRAL_IP}:6641", sb=f"tcp:{CENTRAL_IP}:6642",
                                    bind_host=CENTRAL_IP, netns=CENTRAL_NS)
        neutron_started = time.monotonic() - t1
        conn = _connect_from_host(svc.url)
        nets = {name: _network(conn, name, cidr)
                for name, cidr in (("vmnet", VMNET_CIDR), ("appnet", APPNET_CIDR))}
        vm1 = Vm(VM1_NS, os.path.join(BASE, "vm1"), _vm_port(conn, nets["vmnet"], "vm1"))
        vm2 = Vm(VM2_NS, os.path.join(BASE, "vm2"), _vm_port(conn, nets["appnet"], "vm2"))
        vm3 = Vm(VM3_NS, os.path.join(BASE, "vm3"), _vm_port(conn, nets["vmnet"], "vm3"))
        for vm in (vm1, vm2, vm3):
            os.makedirs(vm.plugins, exist_ok=True)
            _plug_vm(vm)
        ul = Underlay(svc, conn, vm1, vm2, vm3, nets)
        for vm in (vm1, vm3):
            _set_up_dockovn_vm(ul, vm)
        for vm in (vm1, vm3):
            # Each driver reconciles once its dockerd answers (`dockovn gc`); let
            # that finish, or it would race the tests' own checks.
            log = os.path.join(vm.dir, "driver.log")
            wait.until(lambda log=log: "gc at start: removed" in open(log).read(), 60,
                       what=f"{log}: gc at start")
        ul.timings.update(start=time.monotonic() - t0, neutron=neutron_started)
        return ul
    except BaseException:
        _keep_logs()
        teardown()
        raise


def _namespaces() -> None:
    os.makedirs(BASE, exist_ok=True)
    for ns in (CENTRAL_NS, HV_NS, VM1_NS, VM2_NS, VM3_NS):
        sh("ip", "netns", "add", ns)
        in_ns(ns, "ip", "link", "set", "lo", "up")
    in_ns(CENTRAL_NS, "ip", "link", "add", "ulbr", "type", "bridge")
    in_ns(CENTRAL_NS, "ip", "addr", "add", f"{CENTRAL_IP}/24", "dev", "ulbr")
    in_ns(CENTRAL_NS, "ip", "link", "set", "ulbr", "up")
    for peer_ns, peer_ip, name in ((HV_NS, HV_IP, "ul-hv"), (VM1_NS, f"{MGMT}.21", "ul-vm1"),
                                   (VM3_NS, f"{MGMT}.23", "ul-vm3")):
        inner = "ul0" if peer_ns == HV_NS else "mgmt0"
        sh("ip", "link", "add", name, "netns", CENTRAL_NS, "type", "veth", "peer", "name",
           inner, "netns", peer_ns)
        in_ns(CENTRAL_NS, "ip", "link", "set", name, "master", "ulbr", "up")
        in_ns(peer_ns, "ip", "addr", "add", f"{peer_ip}/24", "dev", inner)
        in_ns(peer_ns, "ip", "link", "set", inner, "up")


def _connect_from_host(url: str):
    """The tests' own Neutron client runs in the root namespace: reach the API
    through a veth of the central's bridge."""
    if not sh("ip", "link", "show", "dkul-host", check=False).returncode == 0:
        sh("ip", "link", "add", "dkul-host", "type", "veth", "peer", "name", "ul-host",
           "netns", CENTRAL_NS)
        in_ns(CENTRAL_NS, "ip", "link", "set", "ul-host", "master", "ulbr", "up")
        sh("ip", "addr", "add", f"{MGMT}.2/24", "dev", "dkul-host")
        sh("ip", "link", "set", "dkul-host", "up")
    return connect(url)


def _network(conn, name: str, cidr: str) -> str:
    net = conn.network.create_network(name=name)
    conn.network.create_subnet(network_id=net.id, ip_version=4, cidr=cidr, name=name,
                               enable_dhcp=False)
    return net.id


def _vm_port(conn, network_id: str, name: str) -> dict:
    # Right after start, neutron-server's API worker may still be connecting to
    # OVN NB: its first port writes can fail with a 500 (seen once in about ten starts).
    # Wait that out here, at set-up, never in a test.
    deadline = time.monotonic() + 30
    while True:
        try:
            port = conn.network.create_port(network_id=network_id, name=name,
                                            device_owner="compute:nova",
                                            device_id=f"dkul-{name}")
            break
        except openstack.exceptions.HttpException as exc:
            if (exc.status_code or 0) < 500 or time.monotonic() > deadline:
                raise
            time.sleep(1)
    return {"id": port.id, "mac_address": port.mac_address, "fixed_ips": port.fixed_ips}


def _plug_vm(vm: Vm) -> None:
    """The VM's NIC: a veth whose hypervisor end is a br-int port bound to its Neutron port."""
    name = os.path.basename(vm.dir) + "-eth0"
    sh("ip", "link", "add", name, "netns", HV_NS, "type", "veth", "peer", "name", "eth0",
       "netns", vm.ns)
    in_ns(HV_NS, "ip", "link", "set", name, "up")
    in_ns(HV_NS, "ethtool", "-K", name, "tx", "off")
    hv_db = f"unix:{os.path.join(BASE, 'hv')}/db.sock"
    in_ns(HV_NS, "ovs-vsctl", f"--db={hv_db}", "add-port", "br-int", name, "--", "set",
          "Interface", name, f"external_ids:iface-id={vm.port['id']}")
    in_ns(vm.ns, "ip", "link", "set", "eth0", "address", vm.port["mac_address"])
    in_ns(vm.ns, "ip", "addr", "add", f"{vm.ip}/24", "dev", "eth0")
    in_ns(vm.ns, "ip", "link", "set", "eth0", "mtu", "1442", "up")
    in_ns(vm.ns, "ethtool", "-K", "eth0", "tx", "off")


def _set_up_dockovn_vm(ul: Underlay, vm: Vm) -> None:
    dockovn(vm.ns, "vm", "setup", "--bridge", "breth0", "--uplink", "eth0",
            "--ovs-rundir", vm.dir, "--ovs-dbdir", vm.dir, "--ovs-logdir", vm.dir)
    start_vm_driver(ul, vm)
    start_dockerd(vm.ns, vm.dir, vm.plugins, vm.docker_host, vm.pidfile("docker"))


def start_vm_driver(ul: Underlay, vm: Vm) -> None:
    start_driver(vm.ns, vm.dir, vm.plugins,
                 ["--mode", "underlay", "--ovs-db", vm.ovs_db, "--pidfile", vm.pidfile("driver"),
                  "--docker-host", vm.docker_host, "--gc-interval", "0"],  # gc when tests ask
                 env=ul.driver_env(vm))


def kill_vm1_driver(ul: Underlay) -> None:
    """kill -9: the driver gets no chance to tidy up (its socket file stays)."""
    import signal

    pid = procs.read_pid(ul.vm1.pidfile("driver"))
    if pid:
        os.kill(pid, signal.SIGKILL)
        wait.until(lambda: not procs.alive(pid), 10, what="driver gone")
    for leftover in (ul.vm1.pidfile("driver"), os.path.join(ul.vm1.plugins, "dockovn.sock")):
        if os.path.exists(leftover):
            os.unlink(leftover)


def neutron_blocked(on: bool) -> None:
    """Make Neutron's API refuse connections (as if neutron-server were down), or not."""
    rule = ["INPUT", "-p", "tcp", "--dport", "9696", "-j", "REJECT", "--reject-with",
            "tcp-reset"]
    in_ns(CENTRAL_NS, "iptables", "-I" if on else "-D", *rule)


def wait_port_up(nb: str, port_id: str, timeout: float = 30) -> None:
    """Child ports stay DOWN in Neutron: OVN's NB `up` says the hypervisor bound them."""
    def up() -> bool:
        out = sh("ovn-nbctl", f"--db={nb}", "--if-exists", "get", "Logical_Switch_Port",
                 port_id, "up", check=False).stdout.strip()
        return out == "true"

    wait.until(up, timeout, what=f"OVN port {port_id} up")


LOG_COPY = "/tmp/dkul-logs"


def _keep_logs() -> None:
    import glob
    import shutil

    if not os.path.isdir(BASE):
        return  # torn down already: the copy made then is the one to keep
    shutil.rmtree(LOG_COPY, ignore_errors=True)
    for path in glob.glob(os.path.join(BASE, "**", "*.log"), recursive=True):
        dest = os.path.join(LOG_COPY, os.path.relpath(path, BASE))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy(path, dest)


def save_logs() -> str:
    _keep_logs()
    return LOG_COPY


def teardown() -> None:
    """Stop everything under BASE (dockerd first: it unplugs through the driver)."""
    vms = [os.path.join(BASE, name) for name in DOCKOVN_VMS]
    for d in vms:
        procs.stop(os.path.join(d, "docker.pid"), timeout=30)
    for d in (*vms, os.path.join(BASE, "hv")):
        for daemon in ("driver", "ovn-controller", "ovs-vswitchd", "ovsdb-server"):
            procs.stop(os.path.join(d, f"{daemon}.pid"))
    neutron_service.stop(os.path.join(BASE, "neutron"))
    central = os.path.join(BASE, "central")
    for daemon in ("ovn-northd", "ovnnb_db", "ovnsb_db"):
        procs.stop(os.path.join(central, f"{daemon}.pid"))
    sh("ip", "link", "del", "dkul-host", check=False)
    remove_leftovers(BASE, PREFIX)

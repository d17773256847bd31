"""dockovn as a managed (v2) plugin: built from this checkout with no registry
(packaging/managed-plugin/build.py), created and enabled in each host's dockerd of the
two-host harness instead of the legacy driver process; then swarm on top of it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import docker as sdk
import pytest

from tests.multihost.test_multihost import IMAGE, ip_of, pings, sh_in, unique
from tests.support import multihost, wait
from tests.support.docker_objects import remove

pytestmark = pytest.mark.multihost

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILT = os.path.join(REPO, "build", "plugin-py%d.%d" % sys.version_info[:2])


HARNESS = {"plugin": BUILT}  # dockovn as a managed plugin on every host (conftest.harness)


def prepare_harness() -> None:
    """Build the plugin (conftest.harness calls this before starting the cluster)."""
    done = subprocess.run([sys.executable, os.path.join(REPO, "packaging", "managed-plugin",
                                                        "build.py"), "--out", BUILT],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, f"building the plugin failed: {done.stderr[-2000:]}"


@pytest.fixture(scope="module")
def managed(mh):
    return mh


def docker_cli(host, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = multihost.in_ns(host.ns, "/usr/bin/docker", "-H", host.docker_host, *args,
                           check=False, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {done.stderr}")
    return done


def test_the_plugin_is_enabled_and_nothing_else_serves_dockovn(managed):
    for host in managed.cluster.hosts:
        [plugin] = managed.docker(host.name).plugins.list()
        assert plugin.name == multihost.MANAGED and plugin.enabled
        # No legacy socket: dockerd talks to the plugin's own, under its plugin ID.
        assert not os.path.exists(os.path.join(host.plugins, "dockovn.sock"))


def test_seed_walkthrough(managed):
    h1 = managed.cluster.host("h1")
    nb_switch = docker_cli(h1, "network", "create", "-d", multihost.MANAGED, "--subnet=192.168.1.0/24",
                           "foo").stdout.strip()
    try:
        driver = docker_cli(h1, "network", "inspect", "-f", "{{.Driver}}", "foo").stdout.strip()
        assert driver == multihost.MANAGED
        docker_cli(h1, "run", "-itd", "--net=foo", "--name=busybox", IMAGE)
        assert "inet 192.168.1." in docker_cli(h1, "exec", "busybox", "ip", "addr").stdout
        docker_cli(h1, "network", "create", "-d", multihost.MANAGED, "--subnet=192.168.2.0/24", "bar")
        docker_cli(h1, "network", "connect", "bar", "busybox")
        assert "inet 192.168.2." in docker_cli(h1, "exec", "busybox", "ip", "addr").stdout
        docker_cli(h1, "network", "disconnect", "bar", "busybox")
        docker_cli(h1, "network", "rm", "bar")
        docker_cli(h1, "rm", "-f", "busybox")
        docker_cli(h1, "network", "rm", "foo")
        nbctl = multihost.in_ns(managed.cluster.central_ns, "ovn-nbctl",
                                f"--db={managed.cluster.nb}", "ls-list").stdout
        assert nb_switch not in nbctl
    finally:
        docker_cli(h1, "rm", "-f", "busybox", check=False)
        docker_cli(h1, "network", "rm", "bar", check=False)
        docker_cli(h1, "network", "rm", "foo", check=False)


def _network_on_both(mh, subnet: str) -> str:
    d1 = mh.docker("h1")
    ipam = sdk.types.IPAMConfig(driver=multihost.MANAGED,
                                pool_configs=[sdk.types.IPAMPool(subnet=subnet)])
    name = unique("net")
    d1.networks.create(name, driver=multihost.MANAGED, ipam=ipam)
    wait.until(lambda: mh.docker("h2").networks.list(names=[name]), 20,
               what=f"{name} replicated to h2")
    return name


def test_cluster_ipam_networks_everywhere_and_a_cross_host_ping(managed):
    net = _network_on_both(managed, "10.90.80.0/24")
    made = []
    try:
        for i in range(2):
            for host in ("h1", "h2"):
                made.append(managed.docker(host).containers.run(
                    IMAGE, "sleep 600", detach=True, network=net, name=unique(host)))
        addresses = [ip_of(c, net) for c in made]
        assert len(set(addresses)) == len(addresses), addresses  # one pool, cluster-wide
        assert wait.until(lambda: pings(made[0], ip_of(made[1], net)), 20, what="h1 -> h2")
        assert pings(made[1], ip_of(made[2], net))
    finally:
        remove(*made, managed.docker("h1").networks.get(net))


def test_dockerd_restart_brings_the_plugin_and_containers_back(managed):
    net = _network_on_both(managed, "10.90.81.0/24")
    h1 = managed.cluster.host("h1")
    kept = managed.docker("h1").containers.run(IMAGE, "sleep 600", detach=True, network=net,
                                               name=unique("kept"), restart_policy={"Name": "always"})
    peer = managed.docker("h2").containers.run(IMAGE, "sleep 600", detach=True, network=net,
                                               name=unique("peer"))
    try:
        assert wait.until(lambda: pings(peer, ip_of(kept, net)), 20, what="before the restart")
        managed.close_clients()
        multihost._stop_pidfile(h1.pidfile("docker"), timeout=30)
        multihost.start_dockerd(h1.ns, h1.dir, h1.plugins, h1.docker_host, h1.pidfile("docker"))
        [plugin] = managed.docker("h1").plugins.list()
        assert plugin.enabled
        kept = managed.docker("h1").containers.get(kept.id)
        wait.until(lambda: kept.reload() or kept.status == "running", 30, what="container back")
        assert wait.until(lambda: pings(peer, ip_of(kept, net)), 30, what="after the restart")
    finally:
        remove(kept, peer, managed.docker("h1").networks.get(net))


def test_swarm_service_tasks_reach_each_other_across_hosts(managed):
    """Swarm on the harness's hosts; a dockovn network of swarm scope built from a
    config-only network on each node (Docker's IPAM, a range per node); a service with
    tasks on both nodes; the tasks reach each other across hosts, by address and by name."""
    h1, h2 = managed.cluster.host("h1"), managed.cluster.host("h2")
    d1, d2 = managed.docker("h1"), managed.docker("h2")
    d1.swarm.init(advertise_addr=h1.ip, listen_addr=f"{h1.ip}:2377")
    try:
        token = d1.swarm.attrs["JoinTokens"]["Worker"]
        d2.swarm.join(remote_addrs=[f"{h1.ip}:2377"], join_token=token,
                      advertise_addr=h2.ip, listen_addr=f"{h2.ip}:2377")
        for host, rng in ((h1, "10.90.90.0/26"), (h2, "10.90.90.64/26")):
            docker_cli(host, "network", "create", "--config-only", "--subnet", "10.90.90.0/24",
                       "--gateway", "10.90.90.1", "--ip-range", rng, "swcfg")
        docker_cli(h1, "network", "create", "-d", multihost.MANAGED, "--scope", "swarm",
                   "--config-from", "swcfg", "swnet")
        docker_cli(h1, "service", "create", "--detach", "--name", "web", "--network", "swnet",
                   "--replicas", "3", "--endpoint-mode", "dnsrr", "--no-resolve-image",
                   "--placement-pref", "spread=node.id", IMAGE, "sh", "-c",
                   "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www")

        def tasks():
            found = [(c, d) for d in (d1, d2) for c in d.containers.list(
                filters={"label": "com.docker.swarm.service.name=web"})]
            return found if len(found) == 3 and {id(d) for _, d in found} == {id(d1), id(d2)} \
                else None
        found = wait.until(tasks, 90, step=1, what="three tasks, on both nodes")
        # Both nodes created the network at once: neither task was refused for it.
        history = docker_cli(h1, "service", "ps", "--no-trunc", "web").stdout
        assert "Rejected" not in history, history
        on_h1 = next(c for c, d in found if d is d1)
        on_h2 = [c for c, d in found if d is d2]
        addresses = {ip_of(c, "swnet") for c, _ in found}
        assert len(addresses) == 3
        for other in on_h2:
            assert wait.until(lambda: pings(on_h1, ip_of(other, "swnet")), 30, what="h1 -> h2")
            code, body = sh_in(on_h1, f"timeout 10 wget -q -O - http://{ip_of(other, 'swnet')}/")
            assert code == 0 and body.strip() == other.attrs["Config"]["Hostname"], body
        # Swarm's DNS (dnsrr): the service name gives every task's address.
        code, out = sh_in(on_h1, "nslookup web")
        assert code == 0 and all(a in out for a in addresses), out
    finally:
        docker_cli(h1, "service", "rm", "web", check=False)
        time.sleep(2)
        docker_cli(h1, "network", "rm", "swnet", check=False)
        for host in (h1, h2):
            docker_cli(host, "network", "rm", "swcfg", check=False)
        d2.swarm.leave(force=True)
        d1.swarm.leave(force=True)


def test_disable_and_rm_follow_docker(managed):
    """A plugin in use is not disabled, an enabled one is not removed (Docker's rules); once
    no network uses it, both work. On h2, whose dockerd was not restarted in this module
    (dockerd 20.10 let `disable` through on h1 after its restart: it did not count the
    networks made since). Last in this module: the plugin is gone after it."""
    d2 = managed.docker("h2")
    ipam = sdk.types.IPAMConfig(driver=multihost.MANAGED,
                                pool_configs=[sdk.types.IPAMPool(subnet="10.90.82.0/24")])
    net = d2.networks.create(unique("net"), driver=multihost.MANAGED, ipam=ipam)
    plugin = d2.plugins.get(multihost.MANAGED)
    for refused in (plugin.disable, plugin.remove):
        with pytest.raises(sdk.errors.APIError, match="in use"):
            refused()
    net.remove()
    wait.until(lambda: not managed.docker("h1").networks.list(names=[net.name]), 30,
               what="network gone from h1")
    with pytest.raises(sdk.errors.APIError, match="is enabled"):
        plugin.remove()
    plugin.disable()
    plugin.remove()
    assert d2.plugins.list() == []
    managed.config = (0, None, False)  # no longer what it was made as: the next user starts afresh

"""State that outlives its owner, on the two-host harness: a port left by an NB
outage during `docker rm`, --aux-address reservations when one host drops its view,
and everything a host that is gone for good left behind."""

from __future__ import annotations

import sys

import docker as sdk
import pytest

from dockovn.deploy import procs

from tests.multihost.test_multihost import (IMAGE, create_network, ip_of, network_on, nbctl,
                                            run, unique)
from tests.support import multihost, wait
from tests.support.docker_objects import remove

pytestmark = pytest.mark.multihost


def docker_ipam_network(mh, host: str, subnet: str):
    """A dockovn network on Docker's own IPAM (addresses chosen by this host's dockerd)."""
    ipam = sdk.types.IPAMConfig(pool_configs=[sdk.types.IPAMPool(subnet=subnet)])
    return mh.docker(host).networks.create(unique("dip"), driver="dockovn", ipam=ipam)


def central_nb_down(mh) -> None:
    procs.stop(f"{mh.cluster.central_dir}/ovnnb_db.pid")


def central_back(mh) -> None:
    multihost.dockovn(mh.cluster.central_ns, "central", "start",
                      *multihost.central_args(mh.cluster))


def test_a_port_left_by_an_nb_outage_is_reclaimed_while_the_driver_runs(mh):
    """`docker rm` while NB is down leaves the port holding its address; Docker's IPAM
    hands the address out again and the driver must not refuse it for ever."""
    net = docker_ipam_network(mh, "h1", "10.90.40.0/24")
    client = mh.docker("h1")
    first = run(mh, "h1", net.name)
    address = ip_of(first, net.name)
    try:
        central_nb_down(mh)
        remove(first)  # Docker goes on; the driver could not delete the port
        central_back(mh)

        def same_address_again():
            name = unique("again")
            try:
                return client.containers.run(IMAGE, "sleep 600", detach=True, network=net.name,
                                             name=name)
            except sdk.errors.APIError as exc:
                assert "already used by" in str(exc) or "unreachable" in str(exc), exc
                remove(client.containers.get(name))  # created, could not start
                return None

        # Reclaimed by the driver's periodic gc (harness: every 5 s, ports older than 15 s).
        again = wait.until(same_address_again, 60, step=2,
                           what="the address of the port the outage left, usable again")
        try:
            assert ip_of(again, net.name) == address
        finally:
            remove(again)
    finally:
        central_back(mh)
        for c in client.containers.list(all=True, filters={"network": net.name}):
            remove(c)
        remove(net)


def test_an_address_left_in_a_dockovn_pool_by_an_nb_outage_is_returned(mh):
    """The same on dockovn's IPAM: ReleaseAddress failed too, so the address stays in
    the pool; the running drivers' gc returns it once no port has it."""
    net = create_network(mh, "h1", "10.90.43.0/24")
    address = "10.90.43.77"
    first = _run_with_ip(mh, "h1", net.name, address)
    try:
        central_nb_down(mh)
        remove(first)
        central_back(mh)

        def reusable():
            try:
                return _run_with_ip(mh, "h1", net.name, address)
            except sdk.errors.APIError as exc:
                assert "already in use" in str(exc) or "unreachable" in str(exc), exc
                return None

        again = wait.until(reusable, 90, step=3, what=f"{address} back in the pool")
        remove(again)
    finally:
        central_back(mh)
        for c in mh.docker("h1").containers.list(all=True, filters={"network": net.name}):
            remove(c)
        remove(net)


def test_aux_addresses_stay_reserved_while_another_host_uses_the_network(mh):
    subnet = "10.90.41.0/24"
    aux = "10.90.41.5"
    ipam = sdk.types.IPAMConfig(driver="dockovn", pool_configs=[
        sdk.types.IPAMPool(subnet=subnet, aux_addresses={"printer": aux})])
    net = mh.docker("h1").networks.create(unique("aux"), driver="dockovn", ipam=ipam)
    network_on(mh, "h2", net.name)
    on_h2 = run(mh, "h2", net.name)
    try:
        # h1 drops its view (Docker does whatever the driver answers); h2 still uses it.
        try:
            net.remove()
        except sdk.errors.APIError:
            pass
        network_on(mh, "h1", net.name)  # back on h1: the network lives on (h2 uses it)
        with pytest.raises(sdk.errors.APIError) as refused:
            remove(_run_with_ip(mh, "h2", net.name, aux))  # removed if it wrongly ran
        assert "already in use" in str(refused.value)
    finally:
        remove(on_h2)
        for host in ("h1", "h2"):
            for n in mh.docker(host).networks.list(names=[net.name]):
                remove(n)


def _run_with_ip(mh, host: str, net: str, ip: str):
    """`docker run -d --net NET --ip IP`; the container is removed if it cannot start."""
    api = mh.docker(host).api
    made = api.create_container(
        IMAGE, "sleep 600", name=unique("ip"),
        host_config=api.create_host_config(network_mode=net),
        networking_config=api.create_networking_config(
            {net: api.create_endpoint_config(ipv4_address=ip)}))
    c = mh.docker(host).containers.get(made["Id"])
    try:
        c.start()
    except Exception:
        remove(c)
        raise
    return c


def test_a_host_gone_for_good_is_forgotten_and_stops_blocking_network_rm(mh):
    net = create_network(mh, "h1", "10.90.42.0/24")
    network_on(mh, "h2", net.name)
    dead = [run(mh, "h2", net.name) for _ in range(2)]
    dead_ips = {ip_of(c, net.name) for c in dead}
    h2 = mh.cluster.host("h2")
    try:
        # h2 dies: its daemons are killed, nothing on it tidies up.
        for daemon in ("docker", "driver", "ovn-controller"):
            pid = procs.read_pid(h2.pidfile(daemon))
            if pid:
                multihost.sh("kill", "-9", str(pid), check=False)
        # Docker drops h1's view whatever the driver says; the driver keeps the network
        # (h2's containers are on it) and it comes back on h1: rm cannot finish.
        remove(net)
        network_on(mh, "h1", net.name)
        assert net.id in nbctl(mh, "--columns=name", "list", "Logical_Switch")
        log = open(f"{mh.cluster.host('h1').dir}/driver.log").read()
        assert "on h2" in log
        c = mh.cluster
        done = multihost.in_ns(
            c.central_ns, sys.executable, "-m", "dockovn", "gc", "--forget-host", "h2",
            "--nb", c.nb, "--sb", c.sb, "--yes", check=False)
        assert done.returncode == 0, done.stderr + done.stdout
        assert "2 port(s)" in done.stdout and "chassis h2 deleted" in done.stdout
        # Nothing of h2 left: no ports, no addresses, no chassis; the network goes.
        ports = nbctl(mh, "--columns=external_ids", "list", "Logical_Switch_Port")
        assert "dockovn:host=h2" not in ports.replace('"', "").replace(" ", "")
        pool = nbctl(mh, "--columns=addresses", "find", "Address_Set",
                     "name=dockovn_pool_10_90_42_0_24")
        assert not any(ip in pool for ip in dead_ips)
        assert "h2" not in multihost.in_ns(c.central_ns, "ovn-sbctl", f"--db={c.sb}",
                                           "--columns=name", "list", "Chassis").stdout
        remove(network_on(mh, "h1", net.name))
        wait.until(lambda: net.name not in nbctl(
            mh, "--columns=external_ids", "list", "Logical_Switch"),
            what="the network gone from NB")
        assert mh.docker("h1").networks.list(names=[net.name]) == []
    finally:
        mh.restart()  # h2 back for the tests after this one

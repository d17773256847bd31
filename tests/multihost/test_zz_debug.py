import sys, time
from tests.multihost.test_multihost import IMAGE, create_network, unique, sh_in, run, ip_of, pings, nbctl
from tests.multihost.test_egress import outside, iptables, seen_from, dockovn_on  # noqa
from tests.support import multihost
from tests.support.docker_objects import remove


def test_debug_isolation(mh):
    h1 = mh.cluster.host("h1")
    n1 = create_network(mh, "h1", "10.92.7.0/24", name=unique("eg"))
    n2 = create_network(mh, "h1", "10.92.8.0/24", name=unique("eg"))
    a, b = run(mh, "h1", n1.name), run(mh, "h1", n2.name)
    print("PING", pings(a, ip_of(b, n2.name), 2, 3))
    print(multihost.in_ns(h1.ns, "iptables", "-L", "-v", "-n").stdout)
    print(sh_in(a, "ip route; ip neigh"))
    print(multihost.in_ns(h1.ns, "ip", "route").stdout)
    print(multihost.in_ns(h1.ns, "ip", "-br", "link").stdout)
    print(h1.vsctl("--columns=name,mac,mac_in_use,external_ids", "list", "Interface"))
    print(multihost.in_ns(h1.ns, "conntrack", "-L", check=False).stdout)
    remove(a, b, n1, n2)


def test_debug_policy(mh, outside):
    h1 = mh.cluster.host("h1")
    net = create_network(mh, "h1", "10.92.10.0/24", name=unique("eg"))
    locked = mh.docker("h1").containers.run(IMAGE, "sleep 600", detach=True, network=net.name,
                                            name=unique("locked"), labels={"egress": "locked"})
    time.sleep(2)
    print("BEFORE", seen_from(locked, outside))
    made = dockovn_on(mh, "h1", "policy", "create", "dbgout", "--network", net.name,
                      "--select", "egress=locked", "--to", f"{outside.ip}/32",
                      "--to-port", f"tcp/{outside.port}")
    print(made)
    time.sleep(5)
    print("AFTER", seen_from(locked, outside))
    import threading
    t = threading.Thread(target=lambda: print("DURING", seen_from(locked, outside)))
    t.start(); time.sleep(2)
    print(h1.appctl("ovs-vswitchd.ctl", "dpctl/dump-flows", "-m") if False else "")
    print(multihost.in_ns(h1.ns, "ovs-appctl", "-t", f"{h1.dir}/ovs-vswitchd.ctl", "dpctl/dump-flows", check=False).stdout[-5000:])
    print(multihost.in_ns(h1.ns, "ovs-appctl", "-t", f"{h1.dir}/ovs-vswitchd.ctl", "dpctl/dump-conntrack", check=False).stdout[-3000:])
    t.join()
    print(nbctl(mh, "--format=table", "--columns=direction,priority,match,action", "list", "ACL"))
    print(nbctl(mh, "list", "Port_Group"))
    ip = ip_of(locked, net.name)
    mac = locked.attrs["NetworkSettings"]["Networks"][net.name]["MacAddress"]
    port = locked.attrs["NetworkSettings"]["Networks"][net.name]["EndpointID"]
    c = mh.cluster
    tr = multihost.in_ns(c.central_ns, "ovn-trace", f"--db={c.sb}", "--no-leader-only", "--ct", "new", net.id,
                         f'inport == "{port}" && eth.src == {mac} && eth.dst == 0a:58:a9:fe:01:01 && ip4.src == {ip} && ip4.dst == {outside.ip} && ip.ttl == 64 && tcp.dst == {outside.port} && tcp.flags == 2', check=False)
    print(tr.stdout[-6000:], tr.stderr)
    dockovn_on(mh, "h1", "policy", "delete", "dbgout")
    remove(locked, net)

"""Self-check of tests.support.neutron, end to end: python -m tests.support.neutron_check [--netns]

Starts an OVN central on alternative ports (16641/16642: a test run on this
machine may hold the defaults), a Neutron on 19696, then through the noauth API
(no X-Project-Id header) makes a network, subnet, port and a child port of it,
finds the child in the NB, does the same reads through openstacksdk, deletes it
all, restarts over the running instance with a stale pidfile, and stops
everything, printing timings. Cleans up on failure too. With --netns, neutron-server
runs in a namespace joined to this one by a veth (172.31.253.0/30).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import openstack

from tests.support import neutron as nt
from tests.support import wait

ROOT = "/tmp/dkneutron-check"
CENTRAL = f"{ROOT}/central"
BASE = f"{ROOT}/neutron"
NB_PORT, SB_PORT, API_PORT = 16641, 16642, 19696
NB_SOCK = f"unix:{CENTRAL}/ovnnb_db.sock"
# --netns: neutron-server in its own namespace, joined to this one by a veth.
NETNS, VETH, NETNS_NET = "dkneutron-chk", "dkn-chk", "172.31.253"


def sh(*cmd: str, check: bool = True) -> str:
    done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def central(action: str, addr: str = "127.0.0.1") -> None:
    sh(sys.executable, "-m", "dockovn", "central", action, "--rundir", CENTRAL, "--dbdir",
       CENTRAL, "--logdir", CENTRAL, "--nb-addr", addr, "--sb-addr", addr,
       "--nb-port", str(NB_PORT), "--sb-port", str(SB_PORT), check=action == "start")


def netns_up() -> None:
    sh("ip", "netns", "add", NETNS)
    sh("ip", "link", "add", VETH, "type", "veth", "peer", "name", "eth0", "netns", NETNS)
    sh("ip", "addr", "add", f"{NETNS_NET}.1/30", "dev", VETH)
    sh("ip", "link", "set", VETH, "up")
    for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "link", "set", "eth0", "up"],
                ["ip", "addr", "add", f"{NETNS_NET}.2/30", "dev", "eth0"]):
        sh("ip", "netns", "exec", NETNS, *cmd)


def netns_down() -> None:
    sh("ip", "link", "del", VETH, check=False)  # takes its peer along
    sh("ip", "netns", "del", NETNS, check=False)


def api(url: str, method: str, path: str, body: dict | None = None) -> dict:
    # No X-Project-Id: noauth then runs the request as admin of fake_project_id,
    # which binding:profile needs.
    req = urllib.request.Request(url + path, method=method,
                                 data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {path}: {exc.code} {exc.read().decode()[:500]}") from None
    return json.loads(text) if text else {}


def nbctl(*args: str) -> str:
    return sh("ovn-nbctl", f"--db={NB_SOCK}", *args)


def timed(timings: dict, name: str, fn, *args):
    mark = time.monotonic()
    out = fn(*args)
    timings[name] = time.monotonic() - mark
    return out


def memory(base: str) -> str:
    """RSS and PSS (shared pages split fairly) of every process started from base."""
    rows, rss_total, pss_total = [], 0, 0
    for pid in sorted(nt._pids_under(base)):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                fields = {k.rstrip(":"): int(v) for k, v, *_ in
                          (line.split() for line in f if line.split()[0] in ("Rss:", "Pss:"))}
        except OSError:
            continue
        name = nt._args(pid).split(" (")[0][:60]
        rows.append(f"  {pid:>7} rss {fields['Rss'] // 1024:>4} MB  pss "
                    f"{fields['Pss'] // 1024:>4} MB  {name}")
        rss_total += fields["Rss"]
        pss_total += fields["Pss"]
    rows.append(f"  total   rss {rss_total // 1024:>4} MB  pss {pss_total // 1024:>4} MB")
    return "\n".join(rows)


def exercise(n: nt.Neutron, timings: dict) -> None:
    url = n.url
    net = api(url, "POST", "/v2.0/networks", {"network": {"name": "dkcheck"}})["network"]
    print(f"network {net['id']} mtu {net['mtu']} project {net['project_id']}")
    sub = api(url, "POST", "/v2.0/subnets", {"subnet": {
        "network_id": net["id"], "cidr": "10.99.0.0/24", "ip_version": 4}})["subnet"]
    vm = api(url, "POST", "/v2.0/ports", {"port": {"network_id": net["id"],
                                                   "name": "dkcheck-vm"}})["port"]
    child = timed(timings, "child_port_create", api, url, "POST", "/v2.0/ports", {"port": {
        "network_id": net["id"], "name": "dkcheck-child",
        "binding:profile": {"parent_name": vm["id"], "tag": 5}}})["port"]
    print(f"child port {child['id']} {child['fixed_ips'][0]['ip_address']} "
          f"profile {child['binding:profile']}")

    def in_nb() -> str:
        return nbctl("--bare", "--columns=name,parent_name,tag", "find",
                     "Logical_Switch_Port", f"parent_name={vm['id']}").split()
    found = wait.until(in_nb, 10, what="the child port in the NB")
    assert found == [child["id"], vm["id"], "5"], found
    print(f"NB Logical_Switch_Port: name={found[0]} parent_name={found[1]} tag={found[2]}")

    # The same Neutron through openstacksdk, the way dockovn's underlay mode connects.
    conn = openstack.connect(auth_type="none", network_endpoint_override=url + "/",
                             api_timeout=10)
    try:
        names = [x.name for x in conn.network.networks()]
        port = conn.network.get_port(child["id"])
        sdk_port = conn.network.create_port(network_id=net["id"], name="dkcheck-sdk",
                                            binding_profile={"parent_name": vm["id"], "tag": 6})
        conn.network.delete_port(sdk_port)
        print(f"openstacksdk: networks {names}, child binding_profile {port.binding_profile}, "
              f"created+deleted port {sdk_port.id} tag {sdk_port.binding_profile['tag']}")
        assert "dkcheck" in names and port.binding_profile["tag"] == 5
    finally:
        conn.close()

    timed(timings, "child_port_delete", api, url, "DELETE", f"/v2.0/ports/{child['id']}")
    api(url, "DELETE", f"/v2.0/ports/{vm['id']}")
    api(url, "DELETE", f"/v2.0/subnets/{sub['id']}")
    api(url, "DELETE", f"/v2.0/networks/{net['id']}")
    wait.until(lambda: not nbctl("--bare", "--columns=name", "list", "Logical_Switch").strip(),
               10, what="the network gone from the NB")
    print("deleted; left in NB by Neutron:")
    print("  Port_Group:", " ".join(nbctl("--bare", "--columns=name", "list",
                                          "Port_Group").split()) or "-")
    print("  NB_Global external_ids:", nbctl("get", "NB_Global", ".", "external_ids").strip())
    for table in ("Logical_Switch", "Logical_Switch_Port", "Logical_Router", "ACL",
                  "DHCP_Options", "Address_Set"):
        rows = len(nbctl("--bare", "--columns=_uuid", "list", table).split())
        print(f"  {table}: {rows} rows")


def main() -> int:
    reason = nt.available()
    if reason:
        print(f"skip: {reason}")
        return 0
    in_netns = "--netns" in sys.argv[1:]
    # In a namespace neutron reaches the central over the veth, and we its API.
    central_ip = f"{NETNS_NET}.1" if in_netns else "127.0.0.1"
    api_ip = f"{NETNS_NET}.2" if in_netns else "127.0.0.1"
    kw = dict(bind_host=api_ip, port=API_PORT, netns=NETNS if in_netns else None)
    nb, sb = f"tcp:{central_ip}:{NB_PORT}", f"tcp:{central_ip}:{SB_PORT}"
    timings: dict[str, float] = {}
    sleeper = None
    try:
        nt.stop(BASE)  # an earlier check that died
        central("stop")
        shutil.rmtree(CENTRAL, ignore_errors=True)  # an empty NB: what Neutron leaves shows
        netns_down()
        busy = [p for p in (NB_PORT, SB_PORT, API_PORT)
                if f":{p} " in sh("ss", "-Hltn")]
        if busy:
            raise RuntimeError(f"ports {busy} are in use: another check running?")
        if in_netns:
            netns_up()
        os.makedirs(CENTRAL, exist_ok=True)
        timed(timings, "central_start", central, "start", central_ip)
        n = nt.start(BASE, nb, sb, **kw)
        print(f"neutron at {n.url}: " + ", ".join(f"{k} {v:.2f}s" for k, v in n.timings.items()))
        exercise(n, timings)
        print("memory:\n" + memory(BASE))

        # Restart over the running instance, with the MariaDB pidfile naming a live
        # process that is not ours (a reused pid): it must survive, the old ones not.
        old = set(nt._pids_under(BASE))
        sleeper = subprocess.Popen(["sleep", "300"])
        with open(nt._mysqld_pidfile(BASE), "w") as f:
            f.write(f"{sleeper.pid}\n")
        n = nt.start(BASE, nb, sb, **kw)
        print("restarted: " + ", ".join(f"{k} {v:.2f}s" for k, v in n.timings.items()))
        assert sleeper.poll() is None, "stop() killed a process that was not its own"
        assert not old & set(nt._pids_under(BASE)), "processes of the first run survived"
        assert api(n.url, "GET", "/v2.0/networks") == {"networks": []}

        timed(timings, "neutron_stop", nt.stop, BASE)
        timed(timings, "neutron_stop_again", nt.stop, BASE)
        left = nt._pids_under(BASE)
        assert not left, f"still running: {left}"
    except BaseException:
        print(f"FAILED; logs under {BASE}", file=sys.stderr)
        raise
    finally:
        nt.stop(BASE)
        central("stop", central_ip)
        netns_down()
        if sleeper:
            sleeper.kill()
            sleeper.wait()
    print("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
    left = nt._pids_under(ROOT)
    print("left running under", ROOT, ":", left or "nothing")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())

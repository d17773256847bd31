"""`dockovn topology` on the two-host harness: run on a host the way a user would (its
own set-up's NB/SB connections and certificate), it shows both hosts with their tunnel
addresses, the network, and each container inside the box of the host it runs on."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET

import pytest

from tests.multihost.test_multihost import create_network, ip_of, network_on, run
from tests.support import multihost, wait
from tests.support.docker_objects import remove

pytestmark = pytest.mark.multihost

SVG = "{http://www.w3.org/2000/svg}"


def topology(mh, host: str, *args: str) -> str:
    h = mh.cluster.host(host)
    done = multihost.dockovn(h.ns, "topology", "--ovs-db", h.ovs_db, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Southbound unreachable" not in done.stderr
    return done.stdout


def shapes(svg: str) -> dict[str, tuple[float, float, float, float]]:
    """title -> bounding box (x0, y0, x1, y1) of every cluster and node Graphviz drew."""
    out = {}
    for g in ET.fromstring(svg).iter(f"{SVG}g"):
        if g.get("class") not in ("cluster", "node"):
            continue
        title = g.findtext(f"{SVG}title")
        ellipse = g.find(f"{SVG}ellipse")  # networks
        if ellipse is not None:
            cx, cy, rx, ry = (float(ellipse.get(k)) for k in ("cx", "cy", "rx", "ry"))
            out[title] = (cx - rx, cy - ry, cx + rx, cy + ry)
            continue
        outline = g.find(f"{SVG}path")
        if outline is None:
            outline = g.find(f"{SVG}polygon")
        if outline is None:
            continue  # an invisible point (a host with no container)
        numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?",
                                                outline.get("d") or outline.get("points"))]
        xs, ys = numbers[0::2], numbers[1::2]
        out[title] = (min(xs), min(ys), max(xs), max(ys))
    return out


def inside(inner, outer) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2]
            and inner[3] <= outer[3])


def test_topology_shows_hosts_networks_and_where_each_container_runs(mh, tmp_path):
    net = create_network(mh, "h1", "10.90.70.0/24")
    network_on(mh, "h2", net.name)
    made = []
    try:
        one, two = run(mh, "h1", net.name), run(mh, "h2", net.name)
        made += [one, two]
        names = {one.name: "h1", two.name: "h2"}

        def seen():
            # Names reach NB from Docker's events, and "up" from ovn-controller:
            # a moment after `docker run` returns.
            data = json.loads(topology(mh, "h2", "--json"))
            found = {c["name"]: c for c in data["containers"] if c["name"] in names}
            return data if len(found) == 2 and all(c["up"] for c in found.values()) else None

        data = wait.until(seen, 30, step=0.5, what="both containers named and up in the topology")
        hosts = {h["name"]: h for h in data["hosts"]}
        for h in mh.cluster.hosts:
            assert hosts[h.name]["registered"]
            assert hosts[h.name]["encaps"] == [f"geneve {h.ip}"]
        (network,) = [n for n in data["networks"] if n["name"] == net.name]
        assert network["subnets"] == ["10.90.70.0/24"]
        for c in data["containers"]:
            if c["name"] not in names:
                continue
            host = names[c["name"]]
            assert c["host"] == host
            (attachment,) = c["attachments"]
            container = one if host == "h1" else two
            assert attachment["network"] == network["id"]
            assert attachment["addresses"] == [ip_of(container, net.name)]
            assert attachment["chassis"] == host  # SB has it bound where it runs

        # The picture, drawn on h1: each container in its host's box, not the other's.
        svg_file, dot_file = tmp_path / "topology.svg", tmp_path / "topology.dot"
        topology(mh, "h1", "--out", str(svg_file))
        topology(mh, "h1", "--out", str(dot_file))
        svg = svg_file.read_text()
        for text in (net.name, "10.90.70.0/24", one.name, two.name,
                     *(f"geneve {h.ip}" for h in mh.cluster.hosts)):
            assert text in html.unescape(svg), text  # (SVG writes "-" as &#45;)
        drawn = shapes(svg)
        for c in data["containers"]:
            if c["name"] not in names:
                continue
            box, other = (f"cluster_host_{h}" for h in
                          (("h1", "h2") if names[c["name"]] == "h1" else ("h2", "h1")))
            assert inside(drawn[f"c_{c['key']}"], drawn[box]), (c["name"], box)
            assert not inside(drawn[f"c_{c['key']}"], drawn[other])
        assert f"n_{network['id']}" in drawn
        # The DOT source says the same, with an edge from each container to the network.
        dot = dot_file.read_text()
        for c in data["containers"]:
            if c["name"] in names:
                assert f"c_{c['key']} -> n_{network['id']}" in dot
    finally:
        remove(*made, net)
        wait.until(lambda: net.name not in [n.name for n in mh.docker("h2").networks.list()],
                   30, what="network gone from h2")

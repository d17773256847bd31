"""`dockovn up` / `dockovn down`: everything on this one machine, in order."""

from __future__ import annotations

import json
import os

import click

from dockovn.cli.common import console, friendly_errors
from dockovn.cli.host import DEFAULT_DNS_ADDRESS, configure_docker_dns
from dockovn.deploy import central, chassis, docker_dns, dockerd, driver_daemon, openvswitch

STATE = "/var/run/dockovn/up.json"  # what `up` started, so `down` stops only that


def _save(started: dict[str, bool]) -> None:
    os.makedirs(os.path.dirname(STATE), exist_ok=True)
    previous = _load()
    merged = {k: started.get(k, False) or previous.get(k, False) for k in {*started, *previous}}
    with open(STATE, "w") as f:
        json.dump(merged, f)


def _load() -> dict[str, bool]:
    try:
        with open(STATE) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


@click.command("up")
@click.option("--encap-ip", default="127.0.0.1", show_default=True)
@click.option("--image/--no-image", default=True, show_default=True,
              help="Import the dockovn/busybox test image if missing.")
@friendly_errors
def up(encap_ip: str, image: bool) -> None:
    """Start OVS, OVN central, ovn-controller, the driver and dockerd on this machine."""
    started: dict[str, bool] = {}

    def step(name: str, what: str, fn) -> None:
        did = fn()
        started[name] = bool(did)
        _save(started)
        console.print(f"[green]✓[/] {what}: {'started' if did else 'already running'}")

    step("ovs", "Open vSwitch", openvswitch.start)
    # The central listens on SSL (127.0.0.1:6641/6642, its own CA) for hosts that join
    # later; this host talks to it through its unix sockets: no TCP, no certificate.
    step("central", "OVN central (SSL on 127.0.0.1:6641/6642)",
         lambda: central.start(central.LOCAL))
    cfg = chassis.HostConfig(central=chassis.LOCAL, encap_ip=encap_ip)
    step("controller", "host set-up + ovn-controller",
         lambda: chassis.setup(cfg).controller_started)
    # Names across hosts: dockovn's name server first among dockerd's (before dockerd
    # starts, so a dockerd started here reads it; a running one is told to restart).
    configure_docker_dns(docker_dns.DAEMON_JSON, DEFAULT_DNS_ADDRESS, None)
    # The driver before dockerd: a dockerd restoring dockovn networks looks the plugin up at boot.
    step("driver", "dockovn driver (/run/docker/plugins/dockovn.sock)", driver_daemon.start)
    # A dockerd still shutting down (stopping its containers) is waited for, and one
    # failing at start is reported at once with its own error (see dockerd.start).
    step("dockerd", "dockerd", lambda: dockerd.start(say=lambda m: console.print(f"… {m}")))
    if image:
        did = dockerd.ensure_image(dockerd.DockerdConfig().host)
        console.print(f"[green]✓[/] image {dockerd.IMAGE}: {'imported' if did else 'present'}")
    console.print("dockovn is up: docker network create -d dockovn --subnet 192.168.1.0/24 foo")


@click.command("down")
@click.option("--all", "everything", is_flag=True,
              help="Stop every daemon, not only those `dockovn up` started.")
def down(everything: bool) -> None:
    """Stop what `dockovn up` started (the driver always)."""
    started = _load()
    driver_daemon.stop()
    console.print("driver stopped")
    if everything or started.get("dockerd"):
        dockerd.stop()
        console.print("dockerd stopped")
    if everything or started.get("controller"):
        chassis.stop_controller(chassis.HostConfig())
        console.print("ovn-controller stopped")
    if everything or started.get("central"):
        central.stop()
        console.print("OVN central stopped")
    if everything or started.get("ovs"):
        openvswitch.stop()
        console.print("Open vSwitch stopped")
    if os.path.exists(STATE):
        os.unlink(STATE)

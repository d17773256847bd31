"""A machine outside this host, for the time to a container's first egress answer: a
network namespace held by a `sleep` (no named netns to leave behind), joined to this
host by a veth. Both networks measured (dockovn's, Docker's bridge) reach it through
this host's NAT, as they would the internet."""

from __future__ import annotations

import os
import subprocess

from bench.request_path.leftovers import Ledger

HOST_SIDE, OUTSIDE_SIDE = "198.18.0.1", "198.18.0.2"  # RFC 2544's benchmarking range


class Outside:
    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.link = f"dkbo{os.getpid() % 100000}"
        self.ip = OUTSIDE_SIDE
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["unshare", "-n", "sleep", "86400"])
        self.ledger.add_proc(self.proc.pid, "sleep 86400")
        self.ledger.add_link(self.link)
        pid = str(self.proc.pid)
        for cmd in (["ip", "link", "add", self.link, "type", "veth", "peer", "name", "out0",
                     "netns", pid],
                    ["ip", "addr", "add", f"{HOST_SIDE}/30", "dev", self.link],
                    ["ip", "link", "set", self.link, "up"],
                    # the userspace datapath needs whole checksums from the kernel
                    ["ethtool", "-K", self.link, "tx", "off"]):
            subprocess.run(cmd, check=True, capture_output=True, timeout=30)
        for cmd in (["ip", "addr", "add", f"{OUTSIDE_SIDE}/30", "dev", "out0"],
                    ["ip", "link", "set", "out0", "up"], ["ip", "link", "set", "lo", "up"],
                    ["ethtool", "-K", "out0", "tx", "off"]):
            subprocess.run(["nsenter", "-t", pid, "-n", *cmd], check=True, capture_output=True,
                           timeout=30)

    def stop(self) -> None:
        subprocess.run(["ip", "link", "del", self.link], capture_output=True, timeout=30)
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

"""dockerd's DNS servers for names across hosts (daemon.json ``dns``).

Docker's embedded DNS sends the names it does not know to the daemon's DNS
servers, in order. dockovn's per-host name server goes first; after it the
servers the host used so far (daemon.json's own ``dns`` if it had one, else the
host's resolv.conf, as dockerd itself would), so names dockovn refuses go on to
them. Every other setting in daemon.json is kept. dockerd reads ``dns`` only at
start: after a change it has to be restarted.
"""

from __future__ import annotations

import ipaddress
import json
import os

DAEMON_JSON = "/etc/docker/daemon.json"
RESOLV_CONF = "/etc/resolv.conf"
DOCKER_FALLBACK = ["8.8.8.8", "8.8.4.4"]  # dockerd's own choice when the host has none
SYSTEMD_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"  # what dockerd uses behind 127.0.0.53


def nameservers(path: str) -> list[str]:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            out.append(parts[1])
    return out


def host_upstreams(resolv_conf: str = RESOLV_CONF) -> list[str]:
    """The host's name servers a container can use, as dockerd picks them: not loopback,
    and not link-local (``fe80::1%eth0``: dockerd refuses a scoped address in its ``dns``
    list, and a container could not reach one anyway)."""
    def usable(servers):
        return [s for s in servers if not _loopback(s) and not _link_local(s)]

    found = usable(nameservers(resolv_conf))
    if not found and resolv_conf == RESOLV_CONF:
        found = usable(nameservers(SYSTEMD_RESOLV_CONF))
    return found or list(DOCKER_FALLBACK)


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return True  # not an address dockerd could use either


def _link_local(address: str) -> bool:
    """IPv6 link-local (IPv4's 169.254/16 stays: clouds serve DNS there, reachable
    from containers through the host's NAT)."""
    if "%" in address:
        return True
    try:
        found = ipaddress.ip_address(address)
    except ValueError:
        return True
    return found.version == 6 and found.is_link_local


def configure(path: str, resolver: str, upstreams: list[str] | None = None) -> tuple[bool, list[str]]:
    """Put ``resolver`` first in daemon.json's ``dns``: (changed, the new list)."""
    try:
        with open(path) as f:
            config = json.load(f)
    except FileNotFoundError:
        config = {}
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix it first") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} does not hold a JSON object; fix it first")
    current = list(config.get("dns") or [])
    if upstreams is None:
        upstreams = [s for s in current if s != resolver] or host_upstreams()
    wanted = [resolver] + [s for s in dict.fromkeys(upstreams) if s != resolver]
    if current == wanted:
        return False, wanted
    config["dns"] = wanted
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".new", "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    os.replace(path + ".new", path)
    return True, wanted

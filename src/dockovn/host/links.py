"""Network interfaces on this host through netlink (pyroute2): no `ip` forks."""

from __future__ import annotations

import logging

from pyroute2 import IPRoute
from pyroute2.ethtool import Ethtool
from pyroute2.netlink.exceptions import NetlinkError

LOG = logging.getLogger(__name__)

ENODEV = 19
EEXIST = 17


class LinkError(RuntimeError):
    """A netlink operation failed."""


def exists(name: str) -> bool:
    with IPRoute() as ipr:
        return bool(ipr.link_lookup(ifname=name))


def create_veth(outer: str, inner: str, mac: str, mtu: int) -> None:
    """Create a veth pair: ``outer`` stays on the host (an OVS port), ``inner``
    goes to the container with the endpoint's MAC. Both ends get ``mtu``; the
    outer end is brought up. If anything fails the pair is removed again.
    """
    with IPRoute() as ipr:
        try:
            ipr.link("add", ifname=outer, kind="veth", peer={"ifname": inner})
        except NetlinkError as exc:
            if exc.code == EEXIST:
                raise LinkError(f"interface {outer} or {inner} already exists") from exc
            raise LinkError(f"creating veth {outer}/{inner}: {exc}") from exc
        try:
            (outer_idx,) = ipr.link_lookup(ifname=outer)
            (inner_idx,) = ipr.link_lookup(ifname=inner)
            ipr.link("set", index=inner_idx, address=mac, mtu=mtu)
            ipr.link("set", index=outer_idx, mtu=mtu, state="up")
        except Exception as exc:
            _delete(ipr, outer)
            raise LinkError(f"configuring veth {outer}/{inner}: {exc}") from exc


def disable_tx_checksum(name: str) -> None:
    """Turn off tx checksum offload on ``name``.

    The userspace (netdev) datapath does not complete checksums that a veth
    leaves for offload: ping works, TCP does not. The setting survives Docker
    moving the interface into the container.
    """
    ethtool = Ethtool()
    try:
        features = ethtool.get_features(name)
        for fname, feature in features.features.items():
            if fname.startswith("tx-checksum") and feature.enable and feature.available:
                feature.enable = False
        ethtool.set_features(name, features)
    except Exception as exc:
        raise LinkError(f"disabling tx checksum offload on {name}: {exc}") from exc
    finally:
        ethtool.close()


def _delete(ipr: IPRoute, name: str) -> bool:
    try:
        ipr.link("del", ifname=name)
        return True
    except NetlinkError as exc:
        if exc.code == ENODEV:
            return False
        raise LinkError(f"deleting {name}: {exc}") from exc


def delete(name: str) -> bool:
    """Delete an interface (a veth takes its peer with it). Gone already is fine."""
    with IPRoute() as ipr:
        return _delete(ipr, name)


def names_with_prefix(prefix: str) -> list[str]:
    with IPRoute() as ipr:
        return [
            link.get_attr("IFLA_IFNAME")
            for link in ipr.get_links()
            if (link.get_attr("IFLA_IFNAME") or "").startswith(prefix)
        ]

"""A container's veth on a bridge: make it, find it, remove it.

Shared by both backends: the overlay plugs the outer end into br-int (OVN binds
it by iface-id), the underlay into the VM's breth0 as a tagged access port.
Interface names come from the endpoint ID (identifiers.veth_names); the OVS port
records its endpoint, so lookups are by index, never a scan of the bridge.
"""

from __future__ import annotations

from typing import Callable

from dockovn.host import links
from dockovn.host.ovs import LocalSwitch, OvsError
from dockovn.network import external_ids
from dockovn.network import identifiers
from dockovn.network.api import DriverError


def plug(ovs: LocalSwitch, endpoint_id: str, mac: str, mtu: int, userspace_datapath: bool,
         attach: Callable[[str], None]) -> str:
    """Create the endpoint's veth and ``attach(outer)`` it to a bridge; return the
    inner end's name (Docker moves it into the container). A failure removes the
    veth again, so nothing is left behind. A retried Join starts clean: the earlier
    veth is found when its name is taken, and replaced (no lookups first)."""
    outer, inner = _create_veth(ovs, endpoint_id, mac, mtu)
    try:
        if userspace_datapath:
            # The netdev datapath cannot finish offloaded checksums.
            links.disable_tx_checksum(inner)
        attach(outer)
    except (links.LinkError, OvsError) as exc:
        links.delete(outer)
        raise DriverError(str(exc)) from exc
    return inner


def plugged_port(ovs: LocalSwitch, endpoint_id: str) -> str | None:
    """The name of the OVS port carrying this endpoint, if plugged: its possible
    names are looked up by index (no scan of the bridge)."""
    attempt = 0
    while True:
        try:
            outer, _ = identifiers.veth_names(endpoint_id, attempt)
        except ValueError:
            return None
        bport = ovs.port(outer)
        if bport is None:
            return None  # names are taken in order: no later one was used
        if bport.external_ids.get(external_ids.OVS_ENDPOINT) == endpoint_id:
            return outer
        attempt += 1


def _create_veth(ovs: LocalSwitch, endpoint_id: str, mac: str, mtu: int) -> tuple[str, str]:
    """The veth under the endpoint's first free pair of names. Creating it is the test
    of whether the names are free (no lookups first: one netlink request a Join). A
    name that is taken is looked at: this endpoint's own port (an earlier Join of the
    same endpoint) is removed and the name used again; so is a first-choice veth with
    no OVS port (a stray of a driver that died between making and plugging it); a
    name that is another endpoint's port is stepped past."""
    attempt, replaced = 0, set()
    while True:
        try:
            outer, inner = identifiers.veth_names(endpoint_id, attempt)
        except ValueError as exc:
            raise DriverError(str(exc)) from exc
        try:
            links.create_veth(outer, inner, mac, mtu)
            return outer, inner
        except links.LinkExists:
            if outer not in replaced and _reclaimable(ovs, endpoint_id, outer, attempt):
                replaced.add(outer)
                try:
                    ovs.unplug(outer)  # nothing to remove is fine
                    links.delete(outer)
                except (OvsError, links.LinkError) as exc:
                    raise DriverError(str(exc)) from exc
                continue
            attempt += 1
        except links.LinkError as exc:
            raise DriverError(str(exc)) from exc


def _reclaimable(ovs: LocalSwitch, endpoint_id: str, outer: str, attempt: int) -> bool:
    """Whether a taken name may be freed for this endpoint: its own OVS port, or
    (first choice only) a veth no OVS port holds."""
    bport = ovs.port(outer)
    if bport is None:
        return attempt == 0
    return bport.external_ids.get(external_ids.OVS_ENDPOINT) == endpoint_id


def unplug(ovs: LocalSwitch, endpoint_id: str, wait: bool = True) -> None:
    """Remove this endpoint's OVS port and veth, and a veth left unplugged under its
    first-choice name; nothing there is fine. ``wait=False`` (Leave): the veth is
    deleted after the answer (links.delete_later); off the bridge it carries nothing."""
    plugged = plugged_port(ovs, endpoint_id)
    # A veth left by a driver that died between creating and plugging it has
    # the first-choice name and no OVS port; one that is another endpoint's
    # OVS port (a name collision) must not be touched, nor one being deleted already.
    first_choice = identifiers.veth_names(endpoint_id)[0]
    stray = first_choice if first_choice != plugged and not links.deleting(first_choice) \
        and ovs.port(first_choice) is None else None
    try:
        if plugged:
            ovs.unplug(plugged)  # only when there is one: each is a transaction
            if wait:
                links.delete(plugged)
            else:
                links.delete_later(plugged)
        if stray:
            links.delete(stray)  # gone already is fine (and cheap)
    except (OvsError, links.LinkError) as exc:
        raise DriverError(f"unplugging endpoint {endpoint_id[:12]}: {exc}") from exc

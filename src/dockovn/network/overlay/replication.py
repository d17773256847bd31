"""One network, every host: keep this host's dockerd in step with OVN's networks.

Docker has no cluster view outside swarm, so each host's driver makes every
dockovn network that uses dockovn's IPAM appear in its own dockerd, under the
same name and subnet, and removes it when the network is gone from OVN. The
local network is created with ``-o dockovn.network=<switch>`` (and the same as
an IPAM option), so this host's CreateNetwork joins the existing logical switch
and its RequestPool shares the existing pool instead of refusing the subnet.

Networks on Docker's own IPAM (the default when ``--ipam-driver dockovn`` is
not given) are left on the host that made them: their addresses are chosen per
host and would clash across hosts.

The loop reads OVN from the local IDL cache (kept current by ovsdbapp) and
calls Docker only when the set of networks changed; it runs in its own thread,
never on the plugin's request path.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Container

from dockovn import metrics
from dockovn.host.docker_engine import DockerEngine
from dockovn.network import external_ids
from dockovn.network.api import DRIVER_NAME
from dockovn.network.spec import NAT_OPTION
from dockovn.network.overlay.ipam import ADDRESS_SPACE, JOIN_OPTION
from dockovn.ovn.nb import LogicalSwitch, Northbound

LOG = logging.getLogger(__name__)



def aliases(switch: LogicalSwitch) -> set[str]:
    """Every Docker NetworkID that names this switch on some host."""
    ids = {switch.name}
    ids.update(k[len(external_ids.DOCKER_ID_PREFIX):] for k in switch.external_ids
               if k.startswith(external_ids.DOCKER_ID_PREFIX))
    return ids


class NetworkReplicator:
    def __init__(self, nb: Northbound, engine_factory: Callable[[], DockerEngine],
                 interval: float = 0.5, resync_every: float = 30.0,
                 deleting: Container[str] = ()):
        self.nb = nb
        self.deleting = deleting  # switches whose delete this host is still finishing
        self.engine_factory = engine_factory
        self.interval = interval
        self.resync_every = resync_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dockovn-replicate", daemon=True)
        self._warned: set[str] = set()
        self._missing: set[str] = set()  # local networks NB lacked on the last pass

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        engine = None
        last_state = None
        idle = 0.0
        while not self._stop.wait(self.interval):
            idle += self.interval
            state = self._nb_state()
            if state == last_state and idle < self.resync_every:
                continue
            try:
                engine = engine or self.engine_factory()
                with metrics.counted_sync("networks"):
                    self.reconcile(engine)
                # A network seen missing once is looked at again on the next round.
                last_state, idle = (None if self._missing else state), 0.0
            except Exception as exc:  # dockerd down or restarting: retry next round
                LOG.debug("replicating networks: %s", exc)
                if engine is not None:
                    engine.close()
                engine = None
        if engine is not None:
            engine.close()

    def _nb_state(self) -> int:
        return self.nb.change_seqno()  # cheap: no rows read until something changed

    def reconcile(self, engine: DockerEngine) -> None:
        # Docker first, then NB: a network Docker lists has had its CreateNetwork
        # answered, so its switch is in the NB read that follows. (NB first would let
        # a network created in between look gone, and be removed.)
        local = engine.networks(DRIVER_NAME)
        switches = self.nb.switches_with(external_ids.NETWORK_ID)
        local_ids = {n.id for n in local}
        local_names = {n.name: n.id for n in local}
        for switch in switches:
            ids = switch.external_ids
            name = ids.get(external_ids.NETWORK_NAME)
            if ids.get(external_ids.IPAM) != ADDRESS_SPACE or not name:
                continue  # host-local addressing, or not named yet
            if aliases(switch) & local_ids:
                continue  # this host has it
            if switch.name in self.deleting:
                continue  # removed here; its NB delete is being retried (pending_deletes)
            if name in local_names:
                if name not in self._warned:
                    LOG.warning("network %s exists on another host but this host has a "
                                "different network of that name; not replicated", name)
                    self._warned.add(name)
                continue
            self._create_local(engine, switch, name)
        known = set().union(*(aliases(s) for s in switches)) if switches else set()
        # Removal is the one irreversible step: only for a network missing from NB on
        # two passes in a row, a moment apart.
        missing = {net.id for net in local if net.id not in known}
        for net in local:
            if net.id in missing and net.id in self._missing:
                self._remove_local(engine, net.id, net.name)
        self._missing = missing

    def _create_local(self, engine: DockerEngine, switch: LogicalSwitch, name: str) -> None:
        ids = switch.external_ids
        subnets = [(ids[external_ids.SUBNET], ids.get(external_ids.GATEWAY))]
        if external_ids.SUBNET6 in ids:
            subnets.append((ids[external_ids.SUBNET6], ids.get(external_ids.GATEWAY6)))
        options = {JOIN_OPTION: switch.name}
        if external_ids.MTU in ids:
            options["mtu"] = ids[external_ids.MTU]
        if ids.get(external_ids.EGRESS) == "routed":
            options[NAT_OPTION] = "false"
        try:
            engine.create_network(name, DRIVER_NAME, subnets, options, {JOIN_OPTION: switch.name},
                                  internal=ids.get(external_ids.EGRESS) == "none")
            LOG.info("network %s (%s) from another host now on this host", name, ids[external_ids.SUBNET])
        except Exception as exc:
            LOG.warning("could not add network %s on this host: %s", name, exc)

    def _remove_local(self, engine: DockerEngine, network_id: str, name: str) -> None:
        try:
            engine.remove_network(network_id)
            LOG.info("network %s removed from OVN; removed on this host", name)
        except Exception as exc:
            if name not in self._warned:
                LOG.warning("network %s is gone from OVN but stays on this host: %s", name, exc)
                self._warned.add(name)

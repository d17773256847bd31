"""NbRegistry: service instances as OVN Northbound knows them, kept current by watch.

The registry is NB itself, which every host (and any container that can reach it)
sees. A Logical_Switch_Port is an instance of service S when its external_ids have
``dockovn:service`` = S and ``dockovn:service-port`` = its TCP port; its address is
the IP of its first ``addresses`` entry ("MAC IP ..."), its zone the host name in
``dockovn:hostname``, and it counts once ovn-controller has bound it (``up``).

How the watch works. The registry has its own read-only IDL connection that
monitors only the few columns it needs. The IDL calls ``notify`` for every row it
changes; an ovsdbapp RowEventHandler keeps the ones that concern services (a port
that has, or had, the service key; a switch whose name changed) and runs them on
its own thread, off the connection's. Each such event rebuilds every service's
instance list from the IDL's cache in one pass and swaps in the new dict, so
``instances()`` is a dict lookup: no DB round trip per call. Events from one NB
update share the IDL's change number, so a burst of N port changes is one rebuild.
A reconnect re-reads the whole DB without per-row "delete" notices, so a re-sync
forces a rebuild too.

Why not the driver's ``Northbound`` class: its IDL is built inside
``dockovn.ovsdb.open_api`` with no notify hook, it monitors every table, and a
balancer in a container has no business holding the driver's connection.
"""

from __future__ import annotations

import atexit
import ipaddress
import logging
import os
import threading
from typing import Callable

from ovs.db import idl as ovs_idl
from ovsdbapp import exceptions as ovsdbapp_exceptions
from ovsdbapp.backend.ovs_idl import connection, idlutils
from ovsdbapp.backend.ovs_idl import event as row_event

from dockovn.balancer.instances import Listener, Listeners, ServiceInstance
from dockovn.network import external_ids
from dockovn.ovn.nb import LOCAL_NB_SCHEMA
from dockovn.ovsdb import ThreadedIdl

LOG = logging.getLogger(__name__)

# Where to find NB when no remote is given (a container has no OVS to ask).
NB_ENV = "DOCKOVN_NB"

# Everything the registry reads, and nothing else: less to download and to watch.
WATCHED_COLUMNS = {
    "Logical_Switch": ["name", "external_ids", "ports"],
    "Logical_Switch_Port": ["name", "addresses", "external_ids", "up"],
}

# ServiceInstance.metadata keys
META_CONTAINER = "container-name"
META_NETWORK = "network"
META_NETWORK_ID = "network-id"
META_ENDPOINT = "endpoint-id"


class RegistryError(RuntimeError):
    """The registry could not connect to the Northbound DB."""


# -- reading instances from the IDL cache -----------------------------------------------


def _ip(addresses) -> str | None:
    """The IP of the first "MAC IP [IP...]" entry; None for "dynamic", "unknown"..."""
    if not addresses:
        return None
    fields = sorted(addresses)[0].split()
    if len(fields) < 2:
        return None
    try:
        return str(ipaddress.ip_address(fields[1]))
    except ValueError:
        return None


def _instance(port, switch) -> tuple[ServiceInstance | None, str]:
    """The port as an instance, or (None, why not) if it is registered wrongly."""
    ids = port.external_ids
    service = ids[external_ids.SERVICE]
    try:
        number = int(ids.get(external_ids.SERVICE_PORT, ""))
        if not 0 < number < 65536:
            raise ValueError
    except ValueError:
        return None, f"{external_ids.SERVICE_PORT}={ids.get(external_ids.SERVICE_PORT)!r} is not a TCP port"
    host = _ip(port.addresses)
    if host is None:
        return None, f"no IP address in addresses {list(port.addresses)!r}"
    metadata = {
        META_CONTAINER: ids.get(external_ids.CONTAINER_NAME, ""),
        META_NETWORK: switch.external_ids.get(external_ids.NETWORK_NAME, ""),
        META_NETWORK_ID: switch.name,
        META_ENDPOINT: port.name,
    }
    return ServiceInstance(service_id=service, host=host, port=number,
                           zone=ids.get(external_ids.HOSTNAME) or None, metadata=metadata,
                           instance_id=port.name), ""


def read_services(tables, only_up: bool = True
                  ) -> tuple[dict[str, tuple[ServiceInstance, ...]], dict[str, str]]:
    """Every service's instances (sorted by instance id) from an IDL's tables, and
    the service ports that could not be read (port name -> why)."""
    found: dict[str, list[ServiceInstance]] = {}
    problems: dict[str, str] = {}
    for switch in tables["Logical_Switch"].rows.values():
        for port in switch.ports:
            if external_ids.SERVICE not in port.external_ids:
                continue
            if only_up and not (port.up and port.up[0]):
                continue  # not bound by ovn-controller yet (or any more)
            instance, why = _instance(port, switch)
            if instance is None:
                problems[port.name] = why
            else:
                found.setdefault(instance.service_id, []).append(instance)
    services = {s: tuple(sorted(found[s], key=lambda i: i.instance_id)) for s in found}
    return services, problems


# -- the watch --------------------------------------------------------------------------


class _ServicePortChanged(row_event.RowEvent):
    """A port that is, or was until this change, a service instance."""

    def __init__(self, rebuild: Callable[[], None]):
        super().__init__((self.ROW_CREATE, self.ROW_UPDATE, self.ROW_DELETE),
                         "Logical_Switch_Port", None)
        self._rebuild = rebuild

    def match_fn(self, event, row, old):
        # ``old`` holds only the columns that changed: external_ids is there when
        # the port was relabelled, and then the old labels count too.
        return (external_ids.SERVICE in row.external_ids
                or external_ids.SERVICE in getattr(old, "external_ids", {}))

    def run(self, event, row, old):
        self._rebuild()


class _NetworkRenamed(row_event.RowEvent):
    """A switch whose network name (instance metadata) changed."""

    def __init__(self, rebuild: Callable[[], None]):
        super().__init__((self.ROW_UPDATE,), "Logical_Switch", None)
        self._rebuild = rebuild

    def match_fn(self, event, row, old):
        before = getattr(old, "external_ids", None)
        return (before is not None
                and before.get(external_ids.NETWORK_NAME) != row.external_ids.get(external_ids.NETWORK_NAME))

    def run(self, event, row, old):
        self._rebuild()


class _Resynced:
    """Queued by hand (not matched) when the IDL has re-read the whole DB."""

    ONETIME = False

    def __init__(self, rebuild: Callable[[], None]):
        self._rebuild = rebuild

    def run(self, event, row, old):
        self._rebuild()


class _WatchingIdl(ThreadedIdl):
    """An IDL that reports row changes and full re-syncs to a RowEventHandler."""

    def __init__(self, remote, helper, handler: row_event.RowEventHandler,
                 resynced: _Resynced):
        super().__init__(remote, helper)
        self._handler = handler
        self._resynced = resynced

    def notify(self, event, row, updates=None):
        # Runs on the connection thread with its lock held: only match and queue.
        self._handler.notify(event, row, updates)

    def run(self):
        was_monitoring = self.state == self.IDL_S_MONITORING
        changed = super().run()
        if not was_monitoring and self.state == self.IDL_S_MONITORING:
            # (Re)connected and the cache was rebuilt from a fresh dump: rows that
            # vanished meanwhile got no "delete" notice, so rebuild from scratch.
            self._handler.notifications.put((self._resynced, "resync", None, None))
        return changed


def _why(exc: Exception, timeout: float) -> str:
    if isinstance(exc, ovsdbapp_exceptions.TimeoutException):
        # (its str() fails when raised by a connection start: no message is set)
        return f"no answer within {timeout:g}s"
    return str(exc) or type(exc).__name__


def _schema_helper(remote: str):
    try:
        helper = idlutils.get_schema_helper(remote, "OVN_Northbound")
    except Exception:
        if not os.path.exists(LOCAL_NB_SCHEMA):
            raise
        helper = ovs_idl.SchemaHelper(LOCAL_NB_SCHEMA)
    for table, columns in WATCHED_COLUMNS.items():
        helper.register_columns(table, columns)
    return helper


class NbRegistry:
    """An InstanceSource backed by OVN Northbound, refreshed by watch.

    ``remote``: NB's connection string ("tcp:10.0.0.1:6641", "unix:/run/ovn/ovnnb_db.sock",
    or several comma-separated for a Raft cluster); default ``$DOCKOVN_NB``.
    ``only_up``: list only ports ovn-controller has bound (the container is plugged in).

    Listeners run on the registry's event thread, in order; they must not block.
    """

    def __init__(self, remote: str | None = None, timeout: float = 10.0,
                 only_up: bool = True):
        remote = remote or os.environ.get(NB_ENV)
        if not remote:
            raise RegistryError(f"no Northbound DB given (pass remote= or set {NB_ENV})")
        self.remote = remote
        self.only_up = only_up
        self._lists: dict[str, tuple[ServiceInstance, ...]] = {}
        self._listeners = Listeners()
        self._build_lock = threading.Lock()
        self._built_seqno: int | None = None
        self._reported: dict[str, str] = {}

        self._handler = row_event.RowEventHandler()
        self._handler.watch_events([_ServicePortChanged(self._rebuild),
                                    _NetworkRenamed(self._rebuild)])
        idl = None
        try:
            idl = _WatchingIdl(remote, _schema_helper(remote), self._handler,
                               _Resynced(self._rebuild))
            self._conn = connection.Connection(idl, timeout=timeout)
            self._conn.start()
        except Exception as exc:
            if idl is not None:
                idl.close()
            self._stop_handler()
            raise RegistryError(f"cannot watch OVN Northbound at {remote}: "
                                f"{_why(exc, timeout)}") from exc
        # The first lists now, so instances() is right as soon as we return.
        self._rebuild()

    # -- InstanceSource -------------------------------------------------------------

    def instances(self, service_id: str) -> list[ServiceInstance]:
        # One read of an attribute the event thread replaces whole: no lock needed.
        return list(self._lists.get(service_id, ()))

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.add(listener)

    def services(self) -> list[str]:
        """The services that have instances now."""
        return sorted(self._lists)

    # -- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        self._conn.stop(timeout=2)
        self._stop_handler()

    def _stop_handler(self) -> None:
        self._handler.shutdown()
        atexit.unregister(self._handler.shutdown)  # registered by RowEventHandler
        self._handler.notify_thread.join(timeout=2)

    def __enter__(self) -> "NbRegistry":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- rebuilding ---------------------------------------------------------------------

    def _rebuild(self) -> None:
        with self._build_lock:
            with self._conn.lock:  # the IDL thread changes rows under this lock
                seqno = self._conn.idl.change_seqno
                if seqno == self._built_seqno:
                    return  # an earlier event of the same update already saw this state
                lists, problems = read_services(self._conn.idl.tables, self.only_up)
            self._built_seqno = seqno
            old, self._lists = self._lists, lists
            self._report(problems)
            # Inside the build lock, so listeners see the changes in order.
            for service_id in sorted(old.keys() | lists.keys()):
                now = lists.get(service_id, ())
                if old.get(service_id, ()) != now:
                    LOG.debug("service %s: %d instance(s)", service_id, len(now))
                    self._listeners.fire(service_id, now)

    def _report(self, problems: dict[str, str]) -> None:
        """Warn once per port and problem, not on every rebuild."""
        for port, why in problems.items():
            if self._reported.get(port) != why:
                LOG.warning("port %s is labelled as a service instance but ignored: %s",
                            port, why)
        self._reported = problems

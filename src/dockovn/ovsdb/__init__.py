"""Opening and using ovsdbapp APIs: shared by the OVN (NB, SB) and host (local OVS) layers.

- ``connection``: open and close an API, SSL, reads under the lock, connected or not.
- ``transaction``: transactions bounded by the request's deadline (the OVN layers).
- ``internals``: every python-ovs/ovsdbapp internal dockovn uses, and ``check()`` for
  them, which the driver runs at start (``from dockovn.ovsdb import internals``).

The names below are the package's interface; import them from ``dockovn.ovsdb``.
"""

from dockovn.ovsdb.connection import (OwnConnection, SslFiles, ThreadedIdl, close_api, commit,
                                      connected, connections_made, describe, open_api, reading, use_ssl,
                                      wait_connected)
from dockovn.ovsdb.internals import column_value, insert_key, map_value, set_has
from dockovn.ovsdb.transaction import (BoundedTransaction, BoundedTransactions, NotApplied,
                                       OutcomeUnknown)

__all__ = [
    "BoundedTransaction", "BoundedTransactions", "NotApplied", "OutcomeUnknown",
    "OwnConnection", "SslFiles", "ThreadedIdl", "close_api", "column_value", "commit",
    "connected", "connections_made", "describe", "insert_key", "map_value", "open_api", "reading", "set_has",
    "use_ssl", "wait_connected",
]

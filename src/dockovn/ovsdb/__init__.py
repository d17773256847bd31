"""Opening ovsdbapp APIs: shared by the OVN (NB, SB) and host (local OVS) layers."""

from dockovn.ovsdb.connection import (BoundedTransaction, BoundedTransactions, NotApplied,
                                      OutcomeUnknown, OwnConnection, SslFiles, ThreadedIdl,
                                      close_api, column_value, commit, connected, describe,
                                      map_value, open_api, reading, set_has, use_ssl,
                                      wait_connected)

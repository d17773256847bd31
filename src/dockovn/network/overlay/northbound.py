"""The overlay's writes to OVN Northbound, with their failures in the protocol's terms.

The protocol layer (``network.api``) knows nothing of OVN: a failed Northbound write
becomes a ``DriverError`` that says which step of the request failed and why.
"""

from __future__ import annotations

from dockovn.network.api import DriverError
from dockovn.ovn.nb import NorthboundError


def nb_call(what: str, fn, *args):
    """Run an OVN Northbound write; its failure becomes a DriverError saying ``what``."""
    try:
        return fn(*args)
    except NorthboundError as exc:
        raise DriverError(f"{what}: {exc}") from exc

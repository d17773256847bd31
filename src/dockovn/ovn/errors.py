"""The OVN layer's errors, shared by its modules (``nb`` re-exports them)."""


class NorthboundError(RuntimeError):
    """A Northbound transaction failed or the DB could not be reached."""

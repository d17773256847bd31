"""Names across hosts, measured on the two-host harness (``run``)."""

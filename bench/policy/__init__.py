"""Network policy on the two-host harness (``run``)."""

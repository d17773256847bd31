"""The request path: the driver calls dockerd makes per container, timed against the
floor (what any driver must do on the host), the upstream driver and Docker's bridge;
and the hot spots inside it. `make bench` runs ``run``; `make bench-hotpaths` runs
``hotpaths``."""

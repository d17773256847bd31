"""OVN access: the Northbound DB through ovsdbapp. Knows nothing of Docker."""

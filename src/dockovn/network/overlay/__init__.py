"""The overlay backend: Docker networks as OVN logical switches, one per network, on every host.

- ``driver``        NetworkDriver: switches, logical ports, veths on br-int, gateways
- ``ipam``          IpamDriver: cluster-wide address pools as NB Address_Sets
- ``replication``   makes every dockovn network appear in each host's dockerd
- ``docker_events`` learns what Docker never sends the driver (network and container
                    names, service labels) from Docker events, off the request path
- ``gc``            removes what dead containers and crashed requests left on this host
- ``inventory``     what `dockovn ls` shows
"""

"""The operator's tools: looking at a running cluster in dockovn's terms (containers,
networks, hosts). They read NB, SB, local OVS and Docker and never serve a request:

- ``doctor/``    checks of this host and the cluster, each finding with what to do
- ``trace/``     does a packet get from one container to another, and if not, why
- ``topology/``  the picture of hosts, networks, routers, containers and services

Beside ``network/``, not in it: imports run cli -> diagnose -> network, ovn, host, deploy.
"""

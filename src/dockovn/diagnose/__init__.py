"""Looking at a running cluster, in dockovn's terms (containers, networks, hosts):
doctor (checks of this host and the cluster, each finding with what to do), trace
(does a packet get from one container to another, and if not why) and topology
(the picture of hosts, networks, routers, containers and services)."""

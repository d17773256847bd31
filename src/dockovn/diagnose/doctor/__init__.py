"""`dockovn doctor`: reads (host_reads, cluster_reads, servers, tunnel_traffic, offload)
give facts; pure checks (host_checks, cluster_checks) judge them into findings, each
with what to do; checkup runs them in order, skipping what a failed check makes moot."""

"""Side-by-side benchmarks: dockovn vs the upstream ovn-docker-overlay-driver and Docker's bridge.

One package per thing measured; `make bench` runs the first four, the last two have
targets of their own. Every part writes its results into bench/results/.

- ``request_path/``  the driver's calls per container against their floor, the upstream
                     driver and `docker run` on Docker's bridge (`make bench`), and the
                     request path's hot spots (`make bench-hotpaths`)
- ``names/``         names across hosts: answer latency and freshness
- ``failover/``      the failover window of a Raft central
- ``policy/``        network policy: time until a rule holds, cost per member
- ``scale/``         2, 5 and 10 hosts, 1,000+ ports (`make bench-scale`)
- ``reporting/``     how results are written (markdown, JSON, PNG) and summarised

Shared at the top: ``protocol`` (dockerd's calls, replayed against a driver) and
``stack`` (the machine's stack as `dockovn up` starts it, and its description).
"""

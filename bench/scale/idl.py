"""How much of a driver's start-up and memory is its NB cache, and what conditional
monitoring would save: a python-ovs IDL (the library under the driver's ovsdbapp)
syncing NB in a process of its own, one way per run:

- ``all``: every table and column, as the driver registers them today;
- ``networks``: the same, but logical switch ports only of the given switch (a driver
  caching only the ports of the networks its host uses);
- ``host``: logical switch ports only of the given host (``dockovn:host``).

Prints one JSON line: seconds from connecting to the first full update processed, RSS
before connecting and after, and the ports cached.
`python -m bench.scale.idl UNIX_SOCKET all|networks|host [--switch NAME] [--host ID]`
"""

from __future__ import annotations

import argparse
import json
import sys
import time

LOCAL_NB_SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema"


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scale.idl")
    p.add_argument("socket")
    p.add_argument("variant", choices=["all", "networks", "host"])
    p.add_argument("--switch", default="")
    p.add_argument("--host", default="")
    args = p.parse_args(argv)

    import ovs.db.idl
    import ovs.poller

    before = rss_kib()
    helper = ovs.db.idl.SchemaHelper(LOCAL_NB_SCHEMA)
    helper.register_all()
    t0 = time.monotonic()
    idl = ovs.db.idl.Idl(f"unix:{args.socket}", helper)
    if args.variant == "networks":
        idl.cond_change("Logical_Switch_Port", [["external_ids", "includes",
                                                 ["map", [["dockovn:network-id", args.switch]]]]])
    elif args.variant == "host":
        idl.cond_change("Logical_Switch_Port", [["external_ids", "includes",
                                                 ["map", [["dockovn:host", args.host]]]]])
    seqno = idl.change_seqno
    while time.monotonic() - t0 < 300:
        idl.run()
        if idl.change_seqno != seqno and idl.has_ever_connected():
            break
        poller = ovs.poller.Poller()
        idl.wait(poller)
        poller.timer_wait(100)
        poller.block()
    else:
        print(json.dumps({"error": "no full update within 300 s"}))
        return 1
    synced = time.monotonic() - t0
    print(json.dumps({"variant": args.variant, "sync_s": synced, "rss_before_kib": before,
                      "rss_kib": rss_kib(),
                      "ports": len(idl.tables["Logical_Switch_Port"].rows)}))
    idl.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

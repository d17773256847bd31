"""`dockovn trace`: endpoints (who SRC and DST are), run (ovn-trace, ofproto/trace,
chassis liveness), output (parsing both traces), verdict (pure: the first thing in
the packet's way)."""

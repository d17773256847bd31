"""Scale: 2, 5 and 10 simulated hosts without dockerd, 1,000+ container ports
(`make bench-scale`, ``run``); the replayed containers, what is measured, the report and
plot, and why what grows worse than linearly does."""

"""Side-by-side benchmarks: dockovn vs the upstream ovn-docker-overlay-driver and Docker's bridge.

`make bench` (or `.venv/bin/python -m bench.run`) runs everything and writes
bench/results/. See bench/run.py for what is measured and how.
"""

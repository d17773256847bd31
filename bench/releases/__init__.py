"""`make bench` on each supported release, side by side (bench/releases/compare.py)."""

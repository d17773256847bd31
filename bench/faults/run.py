"""Faults under churn, for figures: the fault suite (tests/multihost/test_faults.py, a
three-member Raft central and two hosts with dockerd, churn from both hosts) run
``--rounds`` times; each round writes one record per fault kind (every request churn
made, with its time from the injection and its error; the ping; the violations), and
this turns them into a table and a plot. The "none" fault is churn alone: the
baseline for ping loss. Goals are reported, never asserted.
`python -m bench.faults.run [--rounds N] [--out DIR] [-k EXPR]`.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

from bench.faults.report import markdown, plot, summarize
from bench.reporting.output import RESULTS, save
from bench.stack import load_average, machine

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUITE = "tests/multihost/test_faults.py"


def run_rounds(rounds: int, select: str | None) -> tuple[list[dict], list[str]]:
    """(every record of every round, how each round ended)."""
    records, outcomes = [], []
    for n in range(1, rounds + 1):
        folder = tempfile.mkdtemp(prefix=f"dkfaults-round{n}-")
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", SUITE]
        if select:
            cmd += ["-k", select]
        t0 = time.monotonic()
        done = subprocess.run(cmd, cwd=REPO, env={**os.environ, "DOCKOVN_FAULTS_LOG": folder},
                              capture_output=True, text=True)
        tail = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
        outcomes.append(f"round {n}: {tail} ({time.monotonic() - t0:.0f} s)")
        print(outcomes[-1], flush=True)
        for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
            with open(path) as f:
                record = json.load(f)
            record.setdefault("fault", os.path.basename(path)[:-5])
            record["round"] = n
            records.append(record)
    return records, outcomes


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.faults.run",
                                description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", default=RESULTS)
    p.add_argument("-k", dest="select", help="only the faults pytest -k selects")
    p.add_argument("--from-records", nargs="+", metavar="DIR",
                   help="folders of records already made, a round each: no run")
    args = p.parse_args(argv)
    if args.from_records:
        records = []
        for n, folder in enumerate(args.from_records, 1):
            for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
                with open(path) as f:
                    records.append({"fault": os.path.basename(path)[:-5], "round": n,
                                    **json.load(f)})
        outcomes = [f"records from {folder}" for folder in args.from_records]
    else:
        records, outcomes = run_rounds(args.rounds, args.select)
    results = {"machine": machine(), "load": load_average(), "rounds": outcomes,
               "faults": summarize(records)}
    save(args.out, "faults", markdown(results), results, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())

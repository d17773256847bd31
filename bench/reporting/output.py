"""Writing a benchmark's results the same way for every part of `make bench`:
the report printed and saved as <stem>.md, the raw samples as <stem>.json, the plot as
<stem>.png."""

from __future__ import annotations

import json
import os
from typing import Callable

# Every part of `make bench` writes into one folder, bench/results/.
RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "results")


def save(out: str, stem: str, text: str, results: dict,
         plot: Callable[[dict, str], None]) -> None:
    print(text)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{stem}.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, f"{stem}.json"), "w") as f:
        json.dump(results, f, indent=1)
    plot(results, os.path.join(out, f"{stem}.png"))

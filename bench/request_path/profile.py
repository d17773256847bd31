"""Sampling the dockovn driver with py-spy while containers are replayed against it.

py-spy samples the running process from outside (no change to the driver), with
``--idle`` so time spent *waiting* (on OVSDB replies, on ovs-vswitchd) shows up
as well as time spent computing: a request's latency is both. Only samples whose
stack passes through the request handlers (dockovn/network/overlay/driver.py) are kept,
so the driver's idle threads (event loop, IDL connections) do not drown them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter

REQUEST_PATH = "dockovn/network/overlay/driver.py"
_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def py_spy() -> str | None:
    here = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return here if os.path.exists(here) else shutil.which("py-spy")


class Sampler:
    def __init__(self, pid: int, raw_path: str, log_path: str, rate: int = 250):
        self.rate = rate
        self.log_path = log_path
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install -e '.[bench]')")
        self.raw_path = raw_path
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [exe, "record", "--pid", str(pid), "--rate", str(rate), "--idle",
                 "--format", "raw", "--output", raw_path, "--nonblocking"],
                stdout=log, stderr=log)

    def stop(self) -> None:
        """py-spy writes its output when interrupted, as on Ctrl-C."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _frames(stack: str) -> list[tuple[str, str]]:
    """py-spy raw frames ("func (path/to/file.py:line)") as (func, "package/file.py")."""
    out = []
    for frame in stack.split(";"):
        m = _FRAME.match(frame.strip())
        if m:
            out.append((m.group("func"), "/".join(m.group("file").split("/")[-2:])))
    return out


def summarize(raw_path: str, rate: int, containers: int) -> str:
    """Per request handler: its time per call, and the steps under it that take the time.

    A step is the first two frames below the innermost OverlayDriver method, e.g.
    ``LocalSwitch.plug > LocalSwitch._commit``: enough to tell our code (a scan, a
    conversion) from what we wait on (an OVSDB reply, ovs-vswitchd, the kernel).
    """
    per_handler: Counter = Counter()
    steps: dict[str, Counter] = {}
    leaf: Counter = Counter()
    total = 0
    with open(raw_path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if REQUEST_PATH not in stack or not count.isdigit():
                continue
            n = int(count)
            frames = _frames(stack)
            ours = [i for i, (func, _) in enumerate(frames) if func.startswith("OverlayDriver.")]
            if not ours:
                continue
            handler = frames[ours[0]][0].removeprefix("OverlayDriver.")
            below = frames[ours[-1] + 1:ours[-1] + 3]
            step = (frames[ours[-1]][0].removeprefix("OverlayDriver.") + ": " +
                    " > ".join(func for func, _ in below)) if below else "(in the handler)"
            total += n
            per_handler[handler] += n
            steps.setdefault(handler, Counter())[step] += n
            leaf[frames[-1]] += n
    if not total:
        return "no samples on the request path (did any request run while sampling?)\n"
    ms_per = 1000.0 / rate / max(containers, 1)  # one sample's share of one call, in ms
    lines = [f"{total} samples at {rate} Hz over {containers} containers "
             f"(~{total * ms_per:.0f} ms of handler time per container; wall time, "
             "running and waiting)", ""]
    for handler, n in per_handler.most_common():
        lines.append(f"{handler}: ~{n * ms_per:.1f} ms per call")
        for step, m in steps[handler].most_common(6):
            lines.append(f"  {100 * m / n:5.1f}%  ~{m * ms_per:5.1f} ms  {step}")
    lines += ["", "innermost frames (where the time is actually spent or waited):"]
    lines += [f"  {100 * n / total:5.1f}%  {func}  ({file})" for (func, file), n in
              leaf.most_common(12)]
    return "\n".join(lines) + "\n"

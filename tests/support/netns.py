"""Commands in a network namespace a test made."""

from __future__ import annotations

import subprocess


def run_in(ns: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                          timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: {done.stderr or done.stdout}")
    return done

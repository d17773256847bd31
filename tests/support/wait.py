from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def until(fn: Callable[[], T], timeout: float = 10.0, step: float = 0.1, what: str = "") -> T:
    """Poll ``fn`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or fn}")
        time.sleep(step)

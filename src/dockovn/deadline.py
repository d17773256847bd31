"""A request's deadline, seen by everything its thread calls.

The plugin answers dockerd within its request timeout. A transaction begun after
that moment would change OVN behind an answer that already went out, so the
plugin sets the deadline for the handler's thread and every OVN transaction
(``ovsdb.BoundedTransaction``) gives up, unsent, once it has passed.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

# How long past its deadline a request may wait for the answer to a transaction it
# had already sent (the reply then says whether it applied).
ANSWER_GRACE = 2.0

_local = threading.local()


@contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Within this block the calling thread has ``seconds`` left."""
    previous = getattr(_local, "at", None)
    _local.at = time.monotonic() + seconds
    try:
        yield
    finally:
        _local.at = previous


def remaining() -> float | None:
    """Seconds left for the calling thread's request, or None outside any request."""
    at = getattr(_local, "at", None)
    return None if at is None else at - time.monotonic()

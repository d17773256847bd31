"""Removing test containers and networks the way a user would, tolerating only
Docker's own asynchrony."""

from __future__ import annotations

import time

import docker as sdk


def remove(*objs, network_timeout: float = 30) -> None:
    """``docker rm -f`` containers, ``docker network rm`` networks; gone already is fine.

    `docker rm -f` returns once the container is stopped; dockerd releases its
    endpoints in the container's exit handler, a moment later (more so with many
    removals at once on two cores). A network removed in that moment is refused
    with "has active endpoints": retry that (only that) until ``network_timeout``.
    """
    for obj in objs:
        try:
            if isinstance(obj, sdk.models.containers.Container):
                obj.remove(force=True)
                continue
            deadline = time.monotonic() + network_timeout
            while True:
                try:
                    obj.remove()
                    break
                except sdk.errors.APIError as exc:
                    if "active endpoints" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        except sdk.errors.NotFound:
            pass

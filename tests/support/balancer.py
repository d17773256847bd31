"""Helpers for the balancer's unit tests: instances, a clock to move by hand."""

from __future__ import annotations

import os

from hypothesis import settings
from hypothesis import strategies as st

from dockovn.balancer import ServiceInstance

ZONES = ("h1", "h2", "h3")

# No per-example deadline (a loaded machine is not a failing test). In CI the
# examples are derandomized: the statistical checks (5 sigma) then cannot flake
# there. (.hypothesis/, the example database, ignores itself in git.)
settings.register_profile("dockovn", deadline=None)
settings.register_profile("dockovn-ci", parent=settings.get_profile("dockovn"),
                          derandomize=True)
settings.load_profile("dockovn-ci" if os.environ.get("CI") else "dockovn")


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def instance(n: int, zone: str | None = "h1", service: str = "svc") -> ServiceInstance:
    return ServiceInstance(service, f"10.0.{n // 250}.{n % 250 + 2}", 8080, zone=zone,
                           metadata={"container-name": f"c{n}"}, instance_id=f"port-{n}")


def instances(count: int, service: str = "svc") -> list[ServiceInstance]:
    return [instance(n, ZONES[n % len(ZONES)], service) for n in range(count)]


@st.composite
def instance_lists(draw, min_size: int = 1, max_size: int = 8):
    """Distinct instances of "svc", each in one of ZONES (or none)."""
    zones = draw(st.lists(st.sampled_from(ZONES + (None,)), min_size=min_size,
                          max_size=max_size))
    return [instance(n, zone) for n, zone in enumerate(zones)]

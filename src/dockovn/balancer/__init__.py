"""Client-side load balancing over dockovn services, after Netflix Ribbon.

A container started with ``--label dockovn.service=orders --label dockovn.port=8080``
is registered in OVN Northbound; any Python process that can reach NB balances
calls over the ``orders`` containers without a proxy in between::

    from dockovn.balancer import LoadBalancerClient, NbRegistry, ZoneAvoidanceRule

    lb = LoadBalancerClient(NbRegistry("tcp:10.0.0.1:6641"), rule=ZoneAvoidanceRule())
    lb.execute("orders", lambda i: call(lb.reconstruct_uri(i, "http://orders/api")))

Modules: instances (ServiceInstance, the InstanceSource protocol), registry (NB,
watched), stats (per-instance load/speed/circuit), rules (the six choosing rules),
client (LoadBalancerClient). This package reads NB; it never imports the driver.
"""

from dockovn.balancer.client import (
    ZONE_ENV,
    AllAttemptsFailed,
    Attempt,
    BadServiceUri,
    BalancerError,
    LoadBalancerClient,
    NoInstancesError,
    reconstruct_uri,
)
from dockovn.balancer.instances import InstanceSource, ServiceInstance, StaticInstances
from dockovn.balancer.registry import NB_ENV, NbRegistry, RegistryError
from dockovn.balancer.rules import (
    AvailabilityFilteringRule,
    BestAvailableRule,
    ChooseContext,
    RandomRule,
    RoundRobinRule,
    Rule,
    WeightedResponseTimeRule,
    ZoneAvoidanceRule,
)
from dockovn.balancer.stats import Circuit, InstanceStats, ServerStats

__all__ = [
    "AllAttemptsFailed", "Attempt", "AvailabilityFilteringRule", "BadServiceUri",
    "BalancerError", "BestAvailableRule", "ChooseContext", "Circuit", "InstanceSource",
    "InstanceStats", "LoadBalancerClient", "NB_ENV", "NbRegistry", "NoInstancesError",
    "RandomRule", "RegistryError", "RoundRobinRule", "Rule", "ServerStats",
    "ServiceInstance", "StaticInstances", "WeightedResponseTimeRule", "ZONE_ENV",
    "ZoneAvoidanceRule", "reconstruct_uri",
]

"""`dockovn gc --forget-host NAME` finds everything of the host, NAME being its hostname
or its system-id, on every switch: aliases record the system-id, which only the host's
ports tell when NAME is the hostname."""

from __future__ import annotations

import uuid

import pytest

from dockovn.network import external_ids
from dockovn.network.overlay import dead_host

pytestmark = pytest.mark.integration


def _switch(nb, ids) -> str:
    name = "forget-" + uuid.uuid4().hex[:8]
    nb.create_switch(name, {external_ids.NETWORK_ID: name, **ids})
    return name


@pytest.mark.parametrize("given", ["gone-node.example", "sysid-gone"])
def test_every_alias_of_the_host_is_found_by_hostname_or_system_id(nb, given):
    alias = external_ids.DOCKER_ID_PREFIX + uuid.uuid4().hex
    # A switch with only the host's alias, and one with its container, in both orders.
    made = [_switch(nb, {alias + "a": external_ids.alias_value("sysid-gone", 1)})]
    with_port = _switch(nb, {})
    made += [with_port, _switch(nb, {alias + "b": external_ids.alias_value("sysid-gone", 1)})]
    port = "forget-port-" + uuid.uuid4().hex[:8]
    nb.add_port(with_port, port, ["0a:58:0a:00:00:02 10.0.0.2"], ["0a:58:0a:00:00:02 10.0.0.2"],
                {external_ids.ENDPOINT_ID: port, external_ids.HOST: "sysid-gone",
                 external_ids.HOSTNAME: "gone-node.example"})
    try:
        state = dead_host.find(nb, given)
        assert [p for _, p, _ in state.ports] == [port]
        assert state.aliases == {made[0]: [alias + "a"], made[2]: [alias + "b"]}
        dead_host.forget(nb, state)
        assert dead_host.find(nb, given).empty
    finally:
        for name in made:
            nb.delete_switch(name)

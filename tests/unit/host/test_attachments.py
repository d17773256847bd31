"""DockerEngine.attachments lists what Docker has even when a container is removed
between the listing and its inspection (a host that starts and removes containers all
the time has one gone in most listings; the names and labels of all the others must
still reach NB)."""

from __future__ import annotations

import docker

from dockovn.host.docker_engine import DockerEngine


class _Api:
    """Docker's answers for one moment: ``gone`` was listed, then removed."""

    def __init__(self, alive: dict[str, dict], gone: str):
        self.alive, self.gone = alive, gone

    def containers(self, all=False):
        return [{"Id": cid} for cid in (*self.alive, self.gone)]

    def inspect_container(self, cid):
        if cid not in self.alive:
            raise docker.errors.NotFound(f"No such container: {cid}")
        return self.alive[cid]


def _container(cid: str, name: str, network: str, endpoint: str) -> dict:
    return {"Id": cid, "Name": "/" + name, "Config": {"Labels": {"role": "db"}},
            "NetworkSettings": {"Networks": {"net": {"NetworkID": network,
                                                     "EndpointID": endpoint,
                                                     "Aliases": [name, "db"]}}}}


def _engine(api: _Api) -> DockerEngine:
    engine = DockerEngine.__new__(DockerEngine)
    engine.client = type("Client", (), {"api": api})()
    return engine


def test_a_container_removed_after_the_listing_is_left_out():
    api = _Api({"a1": _container("a1", "web-1", "n1", "e1")}, gone="b2")
    found = _engine(api).attachments()
    assert [(a.container_name, a.endpoint_id, a.aliases, a.labels) for a in found] == \
        [("web-1", "e1", ("db",), {"role": "db"})]


def test_one_container_that_is_gone_has_no_attachments():
    assert _engine(_Api({}, gone="b2")).attachments("b2") == []

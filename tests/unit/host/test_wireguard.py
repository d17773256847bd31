"""WireGuard's pure parts: keys and the configuration `wg syncconf` gets; and which hosts
become peers."""

from __future__ import annotations

import pytest

from dockovn.deploy.encryption.datapath import Endpoint, device_name
from dockovn.deploy.encryption.peers import peers_of
from dockovn.host import wireguard
from dockovn.ovn.tunnel_keys import PublishedKey


def test_keys_pair_up_and_differ():
    a, b = wireguard.new_private_key(), wireguard.new_private_key()
    assert a != b and len(wireguard.public_key(a)) == 44
    assert wireguard.public_key(a) == wireguard.public_key(a)
    with pytest.raises(wireguard.WireGuardError):
        wireguard.public_key("not a key")


def test_the_configuration_names_each_peer_by_its_tunnel_address():
    peers = [wireguard.Peer("KB", "192.0.2.12:51820", "10.254.0.2"),
             wireguard.Peer("KA", "192.0.2.11:51820", "10.254.0.1")]
    text = wireguard.render("PRIV", 51820, peers)
    assert text.startswith("[Interface]\nPrivateKey = PRIV\nListenPort = 51820\n")
    assert text.index("KA") < text.index("KB")  # stable order: no needless resync
    assert "AllowedIPs = 10.254.0.2/32" in text and "Endpoint = 192.0.2.12:51820" in text


def test_peers_are_the_other_hosts_with_an_address_in_the_encap_network():
    published = [PublishedKey("h1", "K1", "192.0.2.11:51820", ("10.254.0.1",)),
                 PublishedKey("h2", "K2", "192.0.2.12:51820", ("192.0.2.12", "10.254.0.2")),
                 PublishedKey("h3", "K3", "192.0.2.13:51820", ("192.0.2.13",))]
    assert peers_of(published, "h1", "10.254.0.0/16") == [
        wireguard.Peer("K2", "192.0.2.12:51820", "10.254.0.2")]


def test_names_fit_linux_and_the_mtu_leaves_room_for_wireguard():
    ep = Endpoint(name="a-rather-long-host-name", address="10.254.0.9", network="10.254.0.0/16")
    assert len(ep.device) <= 15 and len(ep.ovs_port) <= 15 and len(ep.router_port) <= 15
    assert ep.device == device_name("a-rather-long-host-name")
    assert ep.mtu == 1440

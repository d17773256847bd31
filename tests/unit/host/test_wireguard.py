"""WireGuard's pure parts: keys and the configuration `wg syncconf` gets; which hosts
become peers on which slot through a key rotation; when a host is ready to move."""

from __future__ import annotations

import os

import pytest

from dockovn.deploy.encryption import keystore
from dockovn.deploy.encryption.datapath import Endpoint, device_name
from dockovn.deploy.encryption.peers import peers_of, ready_for
from dockovn.host import wireguard
from dockovn.ovn.tunnel_keys import Generations, PublishedKey, parse, publication


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


def key(chassis, tunnel_ips, keys, sending=0, ready=-1, endpoint=None):
    return PublishedKey(chassis, endpoint or f"192.0.2.1{chassis[-1]}", keys, sending, ready,
                        tunnel_ips)


NOW = Generations(0, None)


def test_peers_are_the_other_hosts_with_an_address_in_the_encap_network():
    published = [key("h1", ("10.254.0.1",), {0: (0, "K1")}),
                 key("h2", ("192.0.2.12", "10.254.0.2"), {0: (0, "K2")}),
                 key("h3", ("192.0.2.13",), {0: (0, "K3")})]
    assert peers_of(published, "h1", 0, NOW, "10.254.0.0/16") == {
        0: [wireguard.Peer("K2", "192.0.2.12:51820", "10.254.0.2")], 1: []}


def test_a_rotation_adds_the_next_keys_on_the_other_slot_and_keeps_the_current():
    rotating = Generations(4, 5)
    h2 = key("h2", ("10.254.0.2",), {0: (4, "OLD"), 1: (5, "NEW")}, sending=4)
    peers = peers_of([h2], "h1", 4, rotating, "10.254.0.0/16")
    assert peers == {0: [wireguard.Peer("OLD", "192.0.2.12:51820", "10.254.0.2")],
                     1: [wireguard.Peer("NEW", "192.0.2.12:51821", "10.254.0.2")]}


def test_the_previous_keys_stay_only_while_one_end_still_sends_with_them():
    after = Generations(5, None)
    h2_moved = key("h2", ("10.254.0.2",), {0: (4, "OLD"), 1: (5, "NEW")}, sending=5)
    h2_behind = key("h2", ("10.254.0.2",), {0: (4, "OLD"), 1: (5, "NEW")}, sending=4)
    old = wireguard.Peer("OLD", "192.0.2.12:51820", "10.254.0.2")
    assert old in peers_of([h2_behind], "h1", 5, after, "10.254.0.0/16")[0]  # h2 not yet
    assert old in peers_of([h2_moved], "h1", 4, after, "10.254.0.0/16")[0]   # we not yet
    assert peers_of([h2_moved], "h1", 5, after, "10.254.0.0/16")[0] == []    # retired
    # Older generations never come back.
    ancient = key("h2", ("10.254.0.2",), {1: (3, "ANCIENT")}, sending=3)
    assert peers_of([ancient], "h1", 3, after, "10.254.0.0/16") == {0: [], 1: []}


def test_ready_needs_every_host_keyed_and_a_handshake_since_our_key_was_made():
    own = keystore.OwnKey(5, wireguard.new_private_key(), made_at=1000.5)
    h2 = key("h2", ("10.254.0.2",), {1: (5, "K2")})
    h3 = key("h3", ("10.254.0.3",), {1: (3, "K3-OLD")})
    plain = key("h4", ("192.0.2.14",), {0: (0, "K4")})  # not encrypted: not a peer
    fresh = [wireguard.PeerState("K2", "", "", 1000, 0, 0)]
    assert ready_for(5, own, [h2, plain], "h1", "10.254.0.0/16", fresh)
    assert not ready_for(5, own, [h2, h3], "h1", "10.254.0.0/16", fresh)  # h3 has no new key
    stale = [wireguard.PeerState("K2", "", "", 999, 0, 0)]
    assert not ready_for(5, own, [h2], "h1", "10.254.0.0/16", stale)
    assert not ready_for(6, own, [h2], "h1", "10.254.0.0/16", fresh)  # our key is older


def test_published_keys_read_back_as_written():
    ids = publication("192.0.2.11", {0: (4, "OLD"), 1: (5, "NEW")}, 4, 5)
    back = parse("h1", ids, ("10.254.0.1",))
    assert back == PublishedKey("h1", "192.0.2.11", {0: (4, "OLD"), 1: (5, "NEW")}, 4, 5,
                                ("10.254.0.1",))
    assert back.key_for(5) == "NEW" and back.key_for(3) is None
    assert parse("h1", {"ovn-foo": "x"}, ()) is None


def test_own_keys_are_kept_per_slot_and_private(tmp_path):
    path = str(tmp_path / "keys.json")
    first = keystore.renew(path, 0, 0)
    second = keystore.renew(path, 1, 1)
    loaded = keystore.load(path)
    assert loaded == {0: first, 1: second} and first.private != second.private
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert keystore.renew(path, 0, 2).generation == 2 and keystore.load(path)[1] == second


def test_names_fit_linux_and_the_mtu_leaves_room_for_wireguard():
    ep = Endpoint(name="a-rather-long-host-name", address="10.254.0.9", network="10.254.0.0/16")
    assert len(ep.device(1)) <= 15 and len(ep.ovs_port) <= 15 and len(ep.router_port) <= 15
    assert ep.device(1) == device_name("a-rather-long-host-name", 1) != ep.device(0)
    assert ep.mtu == 1440

"""The firewall's rules as text (host/firewall.py): what iptables-restore is given."""

from ipaddress import ip_address, ip_network

from dockovn.host.firewall import GatewayPort, PublishedPort, missing_jumps, rules


def test_a_network_is_source_natted_out_of_the_host_but_not_into_another_network():
    text = rules(4, [GatewayPort("dgwaaa", ip_network("10.5.0.0/24"))], [])
    assert "-A DOCKOVN-POSTROUTING -s 10.5.0.0/24 ! -o dgw+ -j MASQUERADE" in text
    assert "-A DOCKOVN-FORWARD -i dgw+ -o dgw+ -j DROP" in text
    # the drop between networks comes before the accept of what leaves
    assert text.index("-i dgw+ -o dgw+ -j DROP") < text.index("-A DOCKOVN-FORWARD -i dgw+ -j ACCEPT")
    assert text.startswith("*nat\n") and text.count("COMMIT") == 2


def test_a_routed_network_keeps_its_addresses_and_is_reachable_from_outside():
    text = rules(4, [GatewayPort("dgwbbb", ip_network("10.6.0.0/24"), nat=False)], [])
    assert "-s 10.6.0.0/24 ! -o dgw+ -j MASQUERADE" not in text
    assert "-A DOCKOVN-FORWARD -o dgwbbb -j ACCEPT" in text


def test_published_ports_are_dnatted_from_outside_from_the_host_and_its_loopback():
    p = PublishedPort("tcp", 8080, 8080, ip_address("10.5.0.3"), 80, owner="e" * 64)
    text = rules(4, [], [p])
    assert ("-A DOCKOVN-PREROUTING -p tcp -m tcp --dport 8080 -m comment --comment "
            '"dockovn eeeeeeeeeeee" -j DNAT --to-destination 10.5.0.3:80') in text
    assert "-A DOCKOVN-OUTPUT -p tcp -m tcp --dport 8080" in text
    # 127.0.0.1 from the host: masqueraded into the port; not from a container
    assert "-A DOCKOVN-POSTROUTING -s 127.0.0.0/8 -o dgw+ -j MASQUERADE" in text
    assert ("-A DOCKOVN-INPUT -i dgw+ -d 127.0.0.0/8 -m conntrack ! --ctstate "
            "RELATED,ESTABLISHED -j DROP") in text


def test_a_range_and_a_host_address_and_ipv6_each_land_in_their_family():
    ranged = PublishedPort("udp", 5000, 5002, ip_address("10.5.0.4"), 6000,
                           host_ip=ip_address("192.0.2.7"))
    six = PublishedPort("tcp", 443, 443, ip_address("fd00::4"), 8443)
    v4, v6 = rules(4, [], [ranged, six]), rules(6, [], [ranged, six])
    assert "-p udp -d 192.0.2.7 -m udp --dport 5000:5002" in v4
    assert "--to-destination 10.5.0.4:6000-6002" in v4 and "fd00::4" not in v4
    assert "--to-destination [fd00::4]:8443" in v6 and "! -d ::1/128" in v6
    assert "127.0.0.0/8" not in v6
    assert "10.5.0.4" not in v6


def test_every_chain_is_declared_so_a_rewrite_empties_it_first():
    text = rules(4, [], [])
    for chain in ("DOCKOVN-PREROUTING", "DOCKOVN-OUTPUT", "DOCKOVN-POSTROUTING",
                  "DOCKOVN-FORWARD", "DOCKOVN-INPUT"):
        assert f":{chain} - [0:0]" in text


def test_only_missing_jumps_are_added_and_no_chain_is_declared_with_them():
    saved = "\n".join(["*nat", "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKOVN-PREROUTING",
                       "-A POSTROUTING -j DOCKOVN-POSTROUTING", "COMMIT", "*filter",
                       "-A FORWARD -j DOCKOVN-FORWARD", "-A INPUT -j DOCKOVN-INPUT", "COMMIT"])
    text = missing_jumps(saved)
    assert text == "*nat\n-I OUTPUT 1 -m addrtype --dst-type LOCAL -j DOCKOVN-OUTPUT\nCOMMIT\n"
    every = missing_jumps("")
    assert every.count("-I ") == 5 and ":DOCKOVN" not in every
    assert missing_jumps(saved + "\n-A OUTPUT -m addrtype --dst-type LOCAL -j DOCKOVN-OUTPUT") == ""


def test_host_only_ports_are_dropped_from_every_gateway_port_here_and_forwarded():
    text = rules(4, [], [], host_only_tcp=(9476,))
    assert "-A DOCKOVN-INPUT -i dgw+ -p tcp -m tcp --dport 9476 -j DROP" in text
    forward = [l for l in text.splitlines() if l.startswith("-A DOCKOVN-FORWARD")]
    drop = forward.index("-A DOCKOVN-FORWARD -i dgw+ -p tcp -m tcp --dport 9476 -j DROP")
    assert drop < forward.index("-A DOCKOVN-FORWARD -i dgw+ -j ACCEPT")

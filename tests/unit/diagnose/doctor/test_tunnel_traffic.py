"""Tunnel liveness from `ovs-ofctl dump-ports` counters."""

from dockovn.diagnose.doctor import tunnel_traffic as tt
from dockovn.diagnose.doctor.facts import TunnelTraffic

OF15 = """OFPST_PORT reply (OF1.5) (xid=0x2): 3 ports
  port LOCAL: rx pkts=0, bytes=0, drop=0, errs=0, frame=0, over=0, crc=0
           tx pkts=3, bytes=0, drop=0, errs=0, coll=0
           duration=1234.567s
  port  1: rx pkts=120, bytes=11760, drop=0, errs=0, frame=?, over=?, crc=?
           tx pkts=118, bytes=11564, drop=0, errs=0, coll=?
           duration=1200.000s
           CUSTOM Statistics
                      ovs_tx_failure_drops=0, ovs_tx_mtu_exceeded_drops=0
  port 12: rx pkts=?, bytes=?, drop=?, errs=?, frame=?, over=?, crc=?
           tx pkts=?, bytes=?, drop=?, errs=?, coll=?
"""

OF10 = """OFPST_PORT reply (xid=0x2): 1 ports
  port  2: rx pkts=7, bytes=700, drop=0, errs=0, frame=0, over=0, crc=0
           tx pkts=9, bytes=900, drop=0, errs=0, coll=0
"""


def test_counters_are_read_per_openflow_port_in_every_version():
    got = tt.parse_dump_ports(OF15)
    assert got["LOCAL"] == tt.Counters(received=0, sent=3)
    assert got["1"] == tt.Counters(received=120, sent=118)
    assert got["12"] == tt.Counters(None, None)  # "?": the port keeps no counters
    assert tt.parse_dump_ports(OF10) == {"2": tt.Counters(received=7, sent=9)}


def test_traffic_is_the_difference_between_two_readings():
    before = {"1": tt.Counters(100, 50), "2": tt.Counters(5, 5), "LOCAL": tt.Counters(0, 0),
              "3": tt.Counters(None, None)}
    after = {"1": tt.Counters(100, 65), "2": tt.Counters(9, 8), "LOCAL": tt.Counters(1, 1),
             "3": tt.Counters(None, None), "4": tt.Counters(1, 1)}
    assert tt.traffic(before, after) == {1: TunnelTraffic(sent=15, received=0),
                                         2: TunnelTraffic(sent=3, received=4)}


def test_only_enough_unanswered_packets_count_as_lost():
    assert tt.unanswered(TunnelTraffic(sent=tt.MIN_UNANSWERED, received=0))
    assert not tt.unanswered(TunnelTraffic(sent=tt.MIN_UNANSWERED - 1, received=0))  # a stray ARP
    assert not tt.unanswered(TunnelTraffic(sent=40, received=1))
    assert not tt.unanswered(TunnelTraffic(sent=0, received=0))  # idle: says nothing

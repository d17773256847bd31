"""Reading `cluster/status` as `dockovn central status` shows it."""

from dockovn.deploy import raft

TEXT = """4c44
Name: OVN_Northbound
Cluster ID: 2a51 (2a51f1d0-5d63-4d6f-9c1e-111111111111)
Server ID: 4c44 (4c44d1d0-5d63-4d6f-9c1e-222222222222)
Address: ssl:172.30.9.3:6643
Status: cluster member
Role: follower
Term: 3
Leader: 99df
Vote: 99df

Election timer: 1000
Log: [2, 12]
Entries not yet committed: 0
Entries not yet applied: 0
Connections: ->99df ->ccf4 <-99df <-ccf4
Disconnections: 0
Servers:
    4c44 (4c44 at ssl:172.30.9.3:6643) (self)
    99df (99df at ssl:172.30.9.1:6643) last msg 8 ms ago
    ccf4 (ccf4 at ssl:172.30.9.2:6643) last msg 4083 ms ago
"""


def test_status_fields_and_the_leaders_address():
    st = raft.parse_status("OVN_Northbound", TEXT)
    assert (st.role, st.term, st.status) == ("follower", "3", "cluster member")
    assert st.leader == "ssl:172.30.9.1:6643"
    assert st.servers == ["4c44 at ssl:172.30.9.3:6643 (self)", "99df at ssl:172.30.9.1:6643",
                          "ccf4 at ssl:172.30.9.2:6643"]


def test_the_leader_itself():
    st = raft.parse_status("OVN_Northbound", TEXT.replace("Role: follower", "Role: leader")
                           .replace("Leader: 99df", "Leader: self"))
    assert st.role == "leader" and st.leader == "ssl:172.30.9.3:6643"

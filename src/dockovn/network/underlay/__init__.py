"""The underlay backend: containers inside an OpenStack VM, on Neutron networks.

- ``driver``     NetworkDriver: Neutron child ports with a per-VM VLAN tag, veths on breth0
- ``ipam``       IpamDriver: Neutron decides every address (an address is a Neutron port)
- ``records``    what this VM remembers (VLAN tags, networks) in breth0's external_ids
- ``gc``         removes what a Neutron outage or a dead container left
- ``inventory``  what `dockovn ls --mode underlay` shows
"""

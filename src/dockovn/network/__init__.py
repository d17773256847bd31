"""What a request means. One subpackage per backend or feature:

- ``overlay/``   Docker networks as OVN logical switches (the default backend)
- ``underlay/``  containers in OpenStack VMs on Neutron networks
- ``services/``  named services with OVN load balancers

What every backend shares sits here: ``api`` (the typed libnetwork requests and
the Driver interface), ``spec`` (request validation), ``external_ids`` (the schema
of what dockovn records in NB and OVS), ``identifiers`` (interface names, MACs,
router names derived from Docker IDs) and ``plugging`` (a container's veth on a
bridge). Imports run one way: cli -> plugin -> network -> ovn/host/cloud.
"""

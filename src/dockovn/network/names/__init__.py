"""Names across hosts: containers find each other by name on every host.

Docker's embedded DNS (127.0.0.11 in each container) answers the names its own
dockerd knows; a miss goes to the daemon's DNS servers. dockovn puts a resolver of
its own first in that list (`dockovn host setup` writes daemon.json's ``dns``):

- ``records``  the names every host's containers have, from NB (container names and
               network aliases that each driver writes on its own ports): pure logic
- ``scope``    which dockovn networks a querying container is on, from this host's
               Docker (the query arrives from one of the container's addresses)
- ``server``   the DNS server (dnspython) on a link-local address of this host: answers
               the names of the asker's networks (A, AAAA, PTR), REFUSED for any
               other name, so Docker goes on to the next server (the host's upstreams)
- ``service``  the pieces started together by the driver
"""

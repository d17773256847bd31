"""Services: one name for a set of containers, balanced by OVN load balancers.

- ``manager``     `dockovn service create/delete/add/remove/ls` against NB
- ``reconciler``  each host keeps every VIP's backends in step with the registry
"""

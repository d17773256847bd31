"""OpenStack access (underlay mode): Neutron through openstacksdk."""

"""Host access: local Open vSwitch, netlink and the daemons on this machine."""

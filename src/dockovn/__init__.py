"""dockovn: multi-host container networking for Docker on Open vSwitch / OVN."""

__version__ = "0.1.0"

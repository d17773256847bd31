"""Setting up and starting the real daemons: OVS, OVN central, ovn-controller, dockerd, the driver.

Used by the CLI's set-up commands; never imported by the plugin's request path.
"""

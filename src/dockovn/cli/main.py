"""The `dockovn` command."""

from __future__ import annotations

import logging

import click

from dockovn import __version__
from dockovn.cli.central import central_group
from dockovn.cli.doctor import doctor_command
from dockovn.cli.driver import driver_command
from dockovn.cli.gc import gc
from dockovn.cli import encryption
from dockovn.cli.host import host_group
from dockovn.cli.identities import COMMANDS as IDENTITY_COMMANDS
from dockovn.cli.ls import ls
from dockovn.cli.metrics import metrics_command
from dockovn.cli.policy import policy_group
from dockovn.cli.service import service_group
from dockovn.cli.topology import topology_command
from dockovn.cli.trace import trace_command
from dockovn.cli.ui import ui_command
from dockovn.cli.up import down, up
from dockovn.cli.vm import vm_group


@click.group()
@click.version_option(__version__)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option("--log-level", default="INFO", envvar="DOCKOVN_LOG_LEVEL", hidden=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def cli(verbose: bool, log_level: str) -> None:
    """Multi-host container networking for Docker on Open vSwitch / OVN."""
    logging.basicConfig(level=logging.DEBUG if verbose else log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


for command in (central_group, host_group, driver_command, doctor_command, up, down, ls, gc,
                service_group, policy_group, trace_command, topology_command, vm_group,
                metrics_command, ui_command):
    cli.add_command(command)
for command in (*IDENTITY_COMMANDS, *encryption.CENTRAL_COMMANDS):
    central_group.add_command(command)
for command in encryption.HOST_COMMANDS:
    host_group.add_command(command)


def main() -> None:
    cli()

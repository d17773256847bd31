"""`dockovn central start|stop|status`: OVN NB/SB databases and ovn-northd."""

from __future__ import annotations

import click

from dockovn.cli.common import console, friendly_errors, status_table
from dockovn.deploy import central

_defaults = central.CentralConfig()


def central_options(fn):
    for opt in reversed([
        click.option("--rundir", default=_defaults.rundir, show_default=True),
        click.option("--dbdir", default=_defaults.dbdir, show_default=True),
        click.option("--logdir", default=_defaults.logdir, show_default=True),
        click.option("--nb-addr", default=_defaults.nb_addr, show_default=True,
                     help="Address the Northbound DB listens on."),
        click.option("--nb-port", default=_defaults.nb_port, show_default=True),
        click.option("--sb-addr", default=_defaults.sb_addr, show_default=True,
                     help="Address the Southbound DB listens on."),
        click.option("--sb-port", default=_defaults.sb_port, show_default=True),
        click.option("--ssl-key", default=None, help="Private key (ovs-pki): listen with SSL."),
        click.option("--ssl-cert", default=None, help="Certificate signed by --ssl-ca."),
        click.option("--ssl-ca", default=None, help="CA certificate clients are checked against."),
    ]):
        fn = opt(fn)
    return fn


@click.group("central")
def central_group() -> None:
    """OVN central: Northbound + Southbound DBs and ovn-northd."""


@central_group.command("start")
@central_options
@friendly_errors
def start(**kwargs) -> None:
    """Start NB, SB and ovn-northd (what is already running is left alone)."""
    cfg = central.CentralConfig(**kwargs)
    started = central.start(cfg)
    console.print(f"OVN central {'started' if started else 'already running'}: "
                  f"NB {cfg.listen('nb')}, SB {cfg.listen('sb')}")


@central_group.command("stop")
@central_options
def stop(**kwargs) -> None:
    """Stop ovn-northd and the NB/SB databases (their data is kept)."""
    central.stop(central.CentralConfig(**kwargs))
    console.print("OVN central stopped")


@central_group.command("status")
@central_options
def status(**kwargs) -> None:
    """Show which central daemons run; exit 1 if any is stopped."""
    statuses = central.status(central.CentralConfig(**kwargs))
    console.print(status_table("OVN central", statuses))
    if not all(s.running for s in statuses):
        raise SystemExit(1)

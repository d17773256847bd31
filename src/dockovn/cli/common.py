"""Helpers shared by the CLI commands: defaults found on this host, tables, errors."""

from __future__ import annotations

import functools
import sys

import click
from rich.console import Console
from rich.table import Table

from dockovn.deploy.procs import SetupError, Status
from dockovn.host.ovs import LocalSwitch, OvsError
from dockovn.ovn.nb import Northbound, NorthboundError
from dockovn.ovsdb import SslFiles

# Without a host set-up: the central on this machine, through its unix sockets.
FALLBACK_NB = "unix:/var/run/ovn/ovnnb_db.sock"
FALLBACK_SB = "unix:/var/run/ovn/ovnsb_db.sock"

# Piped output (tests, scripts) would be cut at 80 columns; tables need more.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def host_connection(ovs_db: str) -> tuple[str, str, SslFiles | None]:
    """(NB, SB, SSL files) as `dockovn host setup` recorded them in local OVS, else loopback."""
    try:
        ovs = LocalSwitch(ovs_db, timeout=5)
    except OvsError:
        return FALLBACK_NB, FALLBACK_SB, None
    try:
        cfg, ssl = ovs.host_config(), ovs.ssl_files()
    finally:
        ovs.close()
    return cfg.get("ovn-nb", FALLBACK_NB), cfg.get("ovn-remote", FALLBACK_SB), ssl


def open_northbound(nb: str | None, ovs_db: str, timeout: float = 5) -> Northbound:
    """NB as given, or as this host's set-up recorded it (with its SSL files); a
    ClickException with the reason if it cannot be reached."""
    recorded_nb, _, ssl = host_connection(ovs_db)
    try:
        return Northbound(nb or recorded_nb, timeout=timeout, ssl=ssl)
    except NorthboundError as exc:
        raise click.ClickException(str(exc)) from exc


def friendly_errors(fn):
    """Turn set-up failures into one clear line and exit code 1, not a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (SetupError, OvsError, RuntimeError) as exc:
            raise click.ClickException(str(exc)) from exc
    return wrapper


def status_table(title: str, statuses: list[Status]) -> Table:
    table = Table(title=title)
    table.add_column("daemon")
    table.add_column("state")
    table.add_column("pid")
    table.add_column("detail")
    for s in statuses:
        table.add_row(s.name, "[green]running[/]" if s.running else "[red]stopped[/]",
                      str(s.pid or ""), s.detail)
    return table

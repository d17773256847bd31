"""`dockovn central start|stop|status|leave|issue-cert`: OVN NB/SB databases,
ovn-northd and the identity service (joins, tokens, revocation: ``cli/identities.py``)."""

from __future__ import annotations

import os

import click
from rich.table import Table

from dockovn.cli.common import console, err_console, friendly_errors, status_table
from dockovn.deploy import central
from dockovn.deploy.pki import admin

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
        click.option("--pki-dir", default=None,
                     help="The central's CA and certificates [default: DBDIR/pki, made on "
                          "first start]."),
        click.option("--ssl-key", default=None, help="Use this server key instead of the CA's."),
        click.option("--ssl-cert", default=None, help="Server certificate signed by --ssl-ca."),
        click.option("--ssl-ca", default=None, help="CA certificate clients are checked against."),
        click.option("--cluster-local", default=None, metavar="ADDR",
                     help="Raft: this member's address; NB/SB become clustered (ports 6643/6644)."),
        click.option("--cluster-join", default=None, metavar="PEER[,PEER]",
                     help="Raft: join the cluster through these members (first start only; "
                          "copy the first member's PKI folder here before)."),
        click.option("--election-timer", default=None, type=click.IntRange(100, 600000),
                     help="Raft election timer in ms, set when the cluster is created "
                          "[default: OVSDB's 1000]."),
        click.option("--address", default=None,
                     help="The central's address(es) as hosts reach them, a,b,c for several "
                          "members [default: --nb-addr/--sb-addr]: what joins answer."),
        click.option("--join-port", default=_defaults.join_port, show_default=True,
                     help="The identity service's HTTPS port (host joins)."),
        click.option("--encrypt-tunnels", is_flag=True,
                     help="Hosts' tunnels inside WireGuard: every host that joins gets an "
                          "encrypted endpoint (docs/encryption.md)."),
        click.option("--encap-network", default=_defaults.encap_network, show_default=True,
                     help="Where encrypted hosts' tunnel addresses come from."),
        click.option("--insecure-tcp", is_flag=True,
                     help="Listen on plain TCP without authentication (anyone reaching the "
                          "port can rewrite OVN's state)."),
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
    warning = cfg.insecure_warning()
    if warning:
        err_console.print(f"[yellow]warning:[/] {warning}")
    started = central.start(cfg)
    console.print(f"OVN central {'started' if started else 'already running'}: "
                  f"NB {cfg.listen('nb')}, SB {cfg.listen('sb')}")
    if cfg.ssl and cfg.own_pki:
        console.print("hosts join with one command: print the token with `dockovn central "
                      "join-token`, then on each host: dockovn host join TOKEN ADDRESS "
                      "--encap-ip IP")


@central_group.command("issue-cert")
@click.argument("host")
@click.option("--out", "out_path", default=None,
              help="Where to write the bundle [default: ./HOST.tar.gz].")
@central_options
@friendly_errors
def issue_cert(host: str, out_path: str | None, **kwargs) -> None:
    """Issue HOST's key and certificate, trust it, and write the bundle `host setup
    --bundle` installs (`host join` does the same without carrying a key around).

    HOST becomes the host's chassis name (its OVS system-id); the Southbound DB lets
    that certificate change only that chassis' rows.
    """
    cfg = central.CentralConfig(**kwargs)
    if not cfg.ssl:
        raise click.UsageError("the central listens on plain TCP (--insecure-tcp): no "
                               "certificates to issue")
    nb, sb = central.client_remotes(cfg, cfg.address)
    bundle = admin.issue_bundle(cfg.pki, cfg.sock("sb"), host, nb, sb)
    out_path = out_path or f"{host}.tar.gz"
    fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(bundle)
    console.print(f"bundle for {host} written to {out_path} (NB {nb}, SB {sb}); it holds "
                  "the host's private key: copy it to the host only")


@central_group.command("stop")
@central_options
def stop(**kwargs) -> None:
    """Stop ovn-northd and the NB/SB databases (their data is kept)."""
    central.stop(central.CentralConfig(**kwargs))
    console.print("OVN central stopped")


@central_group.command("status")
@central_options
def status(**kwargs) -> None:
    """Show which central daemons run and, for a cluster, each database's role, leader,
    term and servers, and whether this member's ovn-northd is active; exit 1 if any
    daemon is stopped."""
    cfg = central.CentralConfig(**kwargs)
    statuses = central.status(cfg)
    console.print(status_table("OVN central", statuses))
    clusters, northd = central.cluster_status(cfg)
    if clusters:
        table = Table(title="Raft")
        for col in ("database", "role", "term", "leader", "status", "servers"):
            table.add_column(col)
        for c in clusters:
            table.add_row(c.database, c.role, c.term, c.leader, c.status, "\n".join(c.servers))
        console.print(table)
        console.print(f"ovn-northd here: {northd}")
    if not all(s.running for s in statuses):
        raise SystemExit(1)


@central_group.command("leave")
@central_options
@friendly_errors
def leave(**kwargs) -> None:
    """Take this member out of the Raft cluster cleanly, stop it, remove its databases."""
    cfg = central.CentralConfig(**kwargs)
    if not cfg.clustered:
        raise click.UsageError("--cluster-local is this member's address: give it")
    central.leave(cfg)
    console.print("left the NB and SB clusters; this member's daemons are stopped")

"""`dockovn central join-token|revoke|renew-identities|identity-service`: who may talk
to the central (``deploy/pki``)."""

from __future__ import annotations

import logging
import os

import click

from dockovn.cli.central import central_options
from dockovn.cli.common import console, err_console, friendly_errors
from dockovn.deploy import central
from dockovn.deploy.pki import admin, authority


def _own_pki(cfg: central.CentralConfig) -> None:
    if not cfg.ssl or not cfg.own_pki:
        raise click.UsageError("identities are the central's own PKI's: not with "
                               "--insecure-tcp or --ssl-*")


def _join_line(cfg: central.CentralConfig, token: str) -> str:
    where = (cfg.address or cfg.nb_addr).split(",")[0].strip()
    return f"dockovn host join {token} {where} --encap-ip HOST-IP"


@click.command("join-token")
@click.option("--rotate", is_flag=True,
              help="Make a new secret: the old token stops working (hosts that joined stay).")
@click.option("--quiet", "-q", is_flag=True, help="Print the token only.")
@central_options
@friendly_errors
def join_token(rotate: bool, quiet: bool, **kwargs) -> None:
    """Print the token hosts join with (`dockovn host join TOKEN ADDRESS ...`)."""
    cfg = central.CentralConfig(**kwargs)
    _own_pki(cfg)
    token = admin.join_token(cfg.pki, cfg.sock("sb"), rotate=rotate)
    if quiet:
        click.echo(token)
        return
    # click.echo, not rich: a token wrapped over two lines cannot be pasted
    click.echo(f"join token{' (new)' if rotate else ''}: {token}")
    click.echo(f"on each host: {_join_line(cfg, token)}")


@click.command("revoke")
@click.argument("host")
@central_options
@friendly_errors
def revoke(host: str, **kwargs) -> None:
    """Make HOST's certificate useless for NB and SB: out of the trusted hosts, its
    chassis removed, its open sessions dropped, and a new join token (HOST knew the old
    one). Other hosts keep working; run on any member of a cluster."""
    cfg = central.CentralConfig(**kwargs)
    _own_pki(cfg)
    token = admin.revoke(cfg.pki, cfg.sock("sb"), host)
    console.print(f"{host} revoked: NB and SB refuse its certificate from now on")
    console.print("what is left to do:")
    console.print(f"  1. its containers' ports and addresses stay in NB: `dockovn gc "
                  f"--forget-host {host}` (on the central or any host) gives them back")
    console.print(f"  2. if {host} runs again, it cannot reach NB or SB; to bring it back "
                  "under its name: `dockovn host join` with the new token")
    click.echo(f"  3. the new join token (the old one is void): {token}")


@click.command("renew-identities")
@central_options
@friendly_errors
def renew_identities(**kwargs) -> None:
    """Move a central made before identities were separate: a new certificate for the
    central from its own CA, restart, and a new join token. Prints what each host runs
    (its old bundle no longer works). Run on every member of a cluster."""
    cfg = central.CentralConfig(**kwargs)
    _own_pki(cfg)
    authority.central_files(cfg.pki, renew=True)
    central.stop(cfg)
    central.start(cfg)
    token = admin.join_token(cfg.pki, cfg.sock("sb"), rotate=True)
    console.print("the central now presents a certificate of its own CA; hosts' old bundles "
                  "no longer work")
    console.print("on each host (its control plane is down until then; containers keep "
                  "their traffic):")
    click.echo(f"  {_join_line(cfg, token)}")


@click.command("identity-service", hidden=True)
@click.option("--pki-dir", required=True)
@click.option("--sb", "sb_remote", required=True)
@click.option("--ctl", "ctls", multiple=True)
@click.option("--listen", required=True)
@click.option("--nb-remote", default="")
@click.option("--sb-remote", "sb_for_hosts", default="")
@click.option("--pidfile", default=None)
@click.option("--encrypt-network", default="")
def identity_service(pki_dir, sb_remote, ctls, listen, nb_remote, sb_for_hosts, pidfile,
                     encrypt_network) -> None:
    """The central's identity service (started by `central start`)."""
    from dockovn.deploy.pki.service import IdentityService

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    service = IdentityService(pki_dir, sb_remote, list(ctls), listen, nb_remote, sb_for_hosts,
                              encap_network=encrypt_network)
    service.prepare()  # `central start` returns once the pidfile is there: joins see it all
    if pidfile:
        with open(pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    try:
        service.serve()
    finally:
        if pidfile and os.path.exists(pidfile):
            os.unlink(pidfile)
    err_console.print("identity service stopped")


COMMANDS = (join_token, revoke, renew_identities, identity_service)  # under `dockovn central`

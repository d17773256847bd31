"""`dockovn policy ...`: which containers may open connections to which."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from typing import Iterator

import click
from rich.table import Table

from dockovn.cli.common import console, open_northbound
from dockovn.host.ovs import DEFAULT_OVS_DB
from dockovn.network.policy.manager import Policies, PolicyRow
from dockovn.network.policy.model import PolicyError, selector_text
from dockovn.ovn.nb import NorthboundError


def _connection_options(fn):
    fn = click.option("--nb", default=None, help="NB connection (default: this host's set-up).")(fn)
    fn = click.option("--ovs-db", default=DEFAULT_OVS_DB, show_default=True)(fn)
    return fn


@contextlib.contextmanager
def _policies(nb: str | None, ovs_db: str) -> Iterator[Policies]:
    nbc = open_northbound(nb, ovs_db)
    try:
        yield Policies(nbc)
    except (PolicyError, NorthboundError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        nbc.close()


@click.group("policy")
def policy_group() -> None:
    """Network policy: which containers accept connections from where, and may open
    them to where.

    A container selected by a policy accepts new incoming connections only from
    what one of its policies allows (replies and ARP/ND always pass). With --to*, it
    opens new connections only to what one of its policies allows (its names keep
    answering). Containers are selected by labels: the container's
    own (`docker run --label`, applied a moment after start) or the endpoint's
    (`--network name=NET,driver-opt=dockovn.label.KEY=VALUE`, applied from the first
    packet). Enforced by OVN on every host.
    """


@policy_group.command("create")
@click.argument("name")
@click.option("--network", default=None,
              help="Only containers on this network (default: every dockovn network).")
@click.option("--select", multiple=True, metavar="KEY[=VALUE]",
              help="Containers with these labels (all must hold; default: every container).")
@click.option("--from", "from_labels", multiple=True, metavar="KEY[=VALUE],...",
              help="Allow from containers with these labels (repeat for alternatives).")
@click.option("--from-network", multiple=True, metavar="NETWORK",
              help="Allow from every container on this network.")
@click.option("--from-cidr", multiple=True, metavar="CIDR", help="Allow from these addresses.")
@click.option("--port", "ports", multiple=True, metavar="PROTO[/PORT[-PORT]]",
              help="Allow only these: tcp/80, udp/53, tcp/8000-8080, tcp, icmp "
                   "(default: any, from the sources given).")
@click.option("--to", "to", multiple=True, metavar="CIDR|KEY[=VALUE],...",
              help="Let the selected containers connect only to these addresses or to "
                   "containers with these labels (repeat for alternatives).")
@click.option("--to-network", multiple=True, metavar="NETWORK",
              help="Let them connect to every container on this network.")
@click.option("--to-port", "to_ports", multiple=True, metavar="PROTO[/PORT[-PORT]]",
              help="... only on these: tcp/443, udp/53 (default: any, to the destinations).")
@click.option("--log", is_flag=True,
              help="Log dropped packets in ovn-controller's log (at most 20 a second a host).")
@_connection_options
def create(name, network, select, from_labels, from_network, from_cidr, ports, to,
           to_network, to_ports, log, nb, ovs_db):
    """Create policy NAME. With no --from*/--port it allows nothing in: it isolates (a
    policy with --to* only restricts what goes out)."""
    with _policies(nb, ovs_db) as policies:
        policy = policies.build(name, network, select, from_labels, from_network, from_cidr,
                                ports, log, to=to, to_networks=to_network, to_ports=to_ports)
        row = policies.create(policy)
    click.echo(f"policy {name} created: selects {len(row.members)} container(s)")


@policy_group.command("delete")
@click.argument("names", nargs=-1, required=True)
@_connection_options
def delete(names, nb, ovs_db):
    """Delete policies; deleting one that does not exist is not an error."""
    with _policies(nb, ovs_db) as policies:
        for name in names:
            if policies.delete(name):
                click.echo(f"policy {name} deleted")
            else:
                click.echo(f"policy {name}: not found, nothing to delete")


def _as_dict(row: PolicyRow) -> dict:
    p = row.policy
    return {"name": p.name,
            "network": p.network_names.get(p.network, p.network[:12]) if p.network else "(all)",
            "selects": selector_text(p.selector), "allows_from": p.describe_sources(),
            "ports": p.describe_ports(), "allows_to": p.describe_destinations(), "log": p.log,
            "acl_names": list(row.acl_names),
            "containers": [asdict(m) for m in row.members]}


@policy_group.command("ls")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@_connection_options
def ls(as_json, nb, ovs_db):
    """Policies with the containers they select, and their hosts."""
    with _policies(nb, ovs_db) as policies:
        rows = policies.listing()
    if as_json:
        click.echo(json.dumps([_as_dict(r) for r in rows], indent=2))
        return
    table = Table(title="dockovn policies")
    for col in ("policy", "network", "selects", "allows from", "ports", "allows to",
                "containers", "hosts"):
        table.add_column(col)
    for row in rows:
        d = _as_dict(row)
        table.add_row(d["name"], d["network"], d["selects"], d["allows_from"], d["ports"],
                      d["allows_to"],
                      ", ".join(m.container for m in row.members) or "-",
                      ", ".join(sorted({m.host for m in row.members})) or "-")
    console.print(table)


@policy_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text.")
@_connection_options
def show(name, as_json, nb, ovs_db):
    """One policy: what it selects and allows, its members, its OVN ACLs."""
    with _policies(nb, ovs_db) as policies:
        row = next((r for r in policies.listing() if r.policy.name == name), None)
        if row is None:
            raise click.ClickException(f"no policy {name!r}")
        group = policies.groups.get(row.policy.group)
    d = _as_dict(row)
    d["acls"] = [asdict(a) for a in (group.acls if group else ())]
    if as_json:
        click.echo(json.dumps(d, indent=2))
        return
    for key in ("name", "network", "selects", "allows_from", "ports", "allows_to", "log"):
        click.echo(f"{key.replace('_', ' ')}: {d[key]}")
    click.echo("containers:")
    for m in row.members:
        click.echo(f"  {m.container} ({m.address}) on {m.network}, host {m.host}")
    click.echo("OVN ACLs:")
    for a in d["acls"]:
        click.echo(f"  {a['direction']} {a['priority']} {a['action']} name={a['name']}: "
                   f"{a['match']}")

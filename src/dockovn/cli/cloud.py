"""Underlay mode's OpenStack side for the CLI: options, the password prompt, Neutron."""

from __future__ import annotations

import os

import click

from dockovn.cloud import neutron as neutron_api


def underlay_options(fn):
    for opt in reversed([
        click.option("--vif-id", envvar="OS_VIF_ID", default=None,
                     help="Underlay: the VM's own Neutron port, parent of every container's "
                          "port."),
        click.option("--os-cloud", envvar="OS_CLOUD", default=None,
                     help="Underlay: a cloud of clouds.yaml [default: the OS_* environment]."),
        click.option("--neutron-url", envvar="DOCKOVN_NEUTRON_URL", default=None,
                     help="Underlay: Neutron's URL, overriding the catalogue's; without "
                          "OS_AUTH_URL a Neutron with auth_strategy = noauth."),
    ]):
        fn = opt(fn)
    return fn


def password_if_needed(os_cloud: str | None) -> str | None:
    """Keystone with a user but no password set: ask (never logged, never stored)."""
    if os_cloud or not os.environ.get("OS_AUTH_URL") or os.environ.get("OS_PASSWORD"):
        return None
    if os.environ.get("OS_AUTH_TYPE", "password") not in ("password", "v3password"):
        return None
    return click.prompt(f"OpenStack password for {os.environ.get('OS_USERNAME', 'the user')}",
                        hide_input=True, err=True)


def open_neutron(os_cloud: str | None, neutron_url: str | None, vif_id: str | None,
                 password: str | None, timeout: float) -> neutron_api.Neutron:
    """Neutron, checked to answer and to know this VM's port; clear errors otherwise."""
    if not vif_id:
        raise click.UsageError("underlay mode needs the VM's own Neutron port: "
                               "--vif-id or OS_VIF_ID")
    neutron = None
    try:
        neutron = neutron_api.connect(os_cloud, neutron_url, password, timeout=timeout)
        parent = neutron.port(vif_id)
    except neutron_api.NeutronError as exc:
        if neutron is not None:
            neutron.close()
        raise click.ClickException(str(exc)) from exc
    if parent is None:
        neutron.close()
        raise click.ClickException(f"OS_VIF_ID {vif_id}: no such Neutron port")
    return neutron

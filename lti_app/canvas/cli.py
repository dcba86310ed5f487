"""``flask canvas ...``: API keys, connections by hand, their status, and the pollers."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import select

from .. import activity, crypto
from ..extensions import db
from ..lti.cli import tenant_option, tenant_options
from ..lti.models import Tenant
from . import connections, worker
from .models import CanvasApiKey, CanvasConnection

canvas_cli = AppGroup("canvas", help="Canvas's own SIS imports, mirrored into the history.")
api_key_cli = AppGroup("api-key", help="Canvas API developer keys (for Connect to Canvas).")
canvas_cli.add_command(api_key_cli)


@api_key_cli.command("add")
@click.option("--base-url", required=True, help="The Canvas, e.g. https://school.instructure.com")
@click.option("--client-id", required=True, help="The API developer key's client id.")
@click.option("--client-secret", required=True, help="The API developer key's secret.")
def api_key_add(base_url: str, client_id: str, client_secret: str) -> None:
    """Register a Canvas's API developer key; admins can then Connect to Canvas in the tab."""
    key = connections.add_api_key(base_url, client_id, client_secret)
    click.echo(f"API key {key.client_id} registered for {key.base_url}.")


@api_key_cli.command("list")
def api_key_list() -> None:
    """List the registered API keys (never their secrets)."""
    for key in db.session.scalars(select(CanvasApiKey).order_by(CanvasApiKey.base_url)):
        click.echo(f"{key.base_url}  client {key.client_id}  added {key.created_at:%Y-%m-%d}")


@api_key_cli.command("remove")
@click.option("--base-url", required=True)
def api_key_remove(base_url: str) -> None:
    """Forget a Canvas's API key."""
    if not connections.remove_api_key(base_url):
        raise click.ClickException("No API key is registered for that Canvas.")
    click.echo(f"Removed the API key of {connections.normalise_base_url(base_url)}.")


@canvas_cli.command("connect")
@tenant_options
@click.option("--base-url", required=True, help="The institution's Canvas.")
@click.option("--account-id", default="self", show_default=True, help="The root account's id.")
@click.option("--access-token", required=True, help="A Canvas user token (an admin's).")
def connect_command(
    issuer: str,
    client_id: str,
    deployment_id: str,
    base_url: str,
    account_id: str,
    access_token: str,
) -> None:
    """Connect an institution with a token made by hand in Canvas (no API key needed)."""
    tenant = tenant_option(issuer, client_id, deployment_id)
    activity.record(tenant.id, "canvas.connected", subject=connections.normalise_base_url(base_url))
    connections.connect(
        tenant,
        base_url=base_url,
        account_id=account_id,
        method="token",
        access_token=access_token,
        connected_by="an operator (token)",
    )
    click.echo(f"Connected {tenant.display_name} to {connections.normalise_base_url(base_url)}.")


@canvas_cli.command("disconnect")
@tenant_options
def disconnect_command(issuer: str, client_id: str, deployment_id: str) -> None:
    """End an institution's connection; its mirrored jobs stay."""
    tenant = tenant_option(issuer, client_id, deployment_id)
    connection = connections.for_tenant(tenant.id)
    if connection is None:
        raise click.ClickException("That institution is not connected to Canvas.")
    activity.record(tenant.id, "canvas.disconnected", subject=connection.base_url)
    connections.disconnect(tenant.id)
    click.echo(f"Disconnected {tenant.display_name}.")


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}Z" if value else "never"


@canvas_cli.command("status")
def status_command() -> None:
    """Every connection: institution, Canvas, account, how connected, last poll, next."""
    rows = db.session.execute(
        select(CanvasConnection, Tenant)
        .join(Tenant, Tenant.id == CanvasConnection.tenant_id)
        .order_by(Tenant.id)
    ).all()
    if not rows:
        click.echo("No institution is connected to Canvas.")
    for connection, tenant in rows:
        state = "NEEDS RECONNECTING" if connection.needs_reconnecting else connection.state
        history = "history complete" if connection.backfill_done else "reading history"
        click.echo(
            f"{tenant.display_name} ({tenant.deployment_id}): {connection.base_url} account "
            f"{connection.account_id}, {connection.method} by {connection.connected_by}; {state}; "
            f"{history}; last poll {_when(connection.last_poll_at)} "
            f"({connection.last_outcome or 'none yet'}); next {_when(connection.next_poll_at)}"
            + (f"; problem: {connection.problem}" if connection.problem else "")
            + (
                "; error rows: the token lacks the SIS Import Errors scope, connect again "
                "to keep every row"
                if connection.errors_scope_missing
                else ""
            )
        )


@canvas_cli.command("poll")
def poll_command() -> None:
    """One pass over every connection, then exit (for cron)."""
    owner = worker.worker_name()
    outcomes = worker.poll_all(owner)
    for connection_id, outcome in outcomes.items():
        click.echo(f"connection {connection_id}: {outcome}")
    click.echo(f"Polled {len(outcomes)} connection(s).")


@canvas_cli.command("rotate-key")
@click.pass_context
def rotate_key_command(ctx: click.Context) -> None:
    """Re-encrypt every stored secret (all of them, not only Canvas's): as `flask secrets
    rotate-key`."""
    ctx.invoke(crypto.rotate_key_command)

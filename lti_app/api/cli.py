"""``flask api-token ...``: tokens for an institution's SIS agent."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .. import activity
from ..lti.cli import tenant_option, tenant_options
from . import tokens

api_token_cli = AppGroup("api-token", help="Bearer tokens for the SIS agent API.")


@api_token_cli.command("create")
@tenant_options
@click.option("--name", required=True, help="What the token is for, e.g. 'OneRoster agent'.")
def create_command(issuer: str, client_id: str, deployment_id: str, name: str) -> None:
    """Create a token and print it (this is the only time it is shown)."""
    tenant = tenant_option(issuer, client_id, deployment_id)
    activity.record(tenant.id, "token.created", subject=name)
    try:
        token, plain = tokens.create(tenant, name, created_by=activity.OPERATOR)
    except tokens.TooMany as exc:
        raise click.ClickException(f"{exc}: revoke one first.") from exc
    click.echo(plain)
    click.echo(
        f"Token {token.id} ({name}) created. Store it now: it cannot be shown again.", err=True
    )


@api_token_cli.command("list")
@tenant_options
def list_command(issuer: str, client_id: str, deployment_id: str) -> None:
    """List an institution's tokens (never the tokens themselves)."""
    for token in tokens.list_tokens(tenant_option(issuer, client_id, deployment_id)):
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "live"
        used = f"last used {token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "unused"
        click.echo(
            f"{token.id}  {token.prefix}…  {token.name}  created {token.created_at:%Y-%m-%d}"
            f" by {token.created_by or 'operator (command line)'}  {used}  {state}"
        )


@api_token_cli.command("revoke")
@tenant_options
@click.argument("token_id", type=int)
def revoke_command(issuer: str, client_id: str, deployment_id: str, token_id: int) -> None:
    """Revoke a token by the id `list` shows; requests with it are refused from now on."""
    tenant = tenant_option(issuer, client_id, deployment_id)
    token = tokens.live(tenant.id, token_id)
    if token is None:
        raise click.ClickException("No such live token for this institution.")
    activity.record(tenant.id, "token.revoked", subject=token.name)
    tokens.revoke(tenant, token_id)
    click.echo(f"Revoked token {token_id}.")

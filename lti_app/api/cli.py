"""``flask api-token ...``: tokens for an institution's SIS agent."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..lti.cli import tenant_option, tenant_options
from . import tokens

api_token_cli = AppGroup("api-token", help="Bearer tokens for the SIS agent API.")


@api_token_cli.command("create")
@tenant_options
@click.option("--name", required=True, help="What the token is for, e.g. 'OneRoster agent'.")
def create_command(issuer: str, client_id: str, deployment_id: str, name: str) -> None:
    """Create a token and print it (this is the only time it is shown)."""
    token, plain = tokens.create(tenant_option(issuer, client_id, deployment_id), name)
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
        click.echo(
            f"{token.id}  {token.prefix}…  {token.name}  created "
            f"{token.created_at:%Y-%m-%d}  {state}"
        )


@api_token_cli.command("revoke")
@tenant_options
@click.argument("token_id", type=int)
def revoke_command(issuer: str, client_id: str, deployment_id: str, token_id: int) -> None:
    """Revoke a token by the id `list` shows; requests with it are refused from now on."""
    if not tokens.revoke(tenant_option(issuer, client_id, deployment_id), token_id):
        raise click.ClickException("No such live token for this institution.")
    click.echo(f"Revoked token {token_id}.")

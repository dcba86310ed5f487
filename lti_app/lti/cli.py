"""``flask lti ...``: register platforms and deployments, manage the tool's keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..extensions import db
from . import keys, registry
from .models import Launch, Platform, Tenant

F = TypeVar("F", bound=Callable[..., Any])


def tenant_options(command: F) -> F:
    """The three options that name an institution: issuer, client id, deployment id."""
    for option in reversed(
        [
            click.option("--issuer", required=True, help="The platform's issuer."),
            click.option("--client-id", required=True, help="The developer key's client id."),
            click.option("--deployment-id", required=True, help="The institution's deployment id."),
        ]
    ):
        command = option(command)
    return command


def tenant_option(issuer: str, client_id: str, deployment_id: str) -> Tenant:
    """The institution the options name, or a plain error."""
    tenant = registry.find_tenant(issuer, client_id, deployment_id)
    if tenant is None:
        raise click.ClickException("No such deployment; register it with `flask lti register`.")
    return tenant


lti_cli = AppGroup("lti", help="LTI registrations and the tool's signing keys.")


@lti_cli.command("register")
@click.option(
    "--issuer", required=True, help="The platform's issuer, e.g. https://canvas.instructure.com"
)
@click.option("--client-id", required=True, help="The developer key's client id.")
@click.option("--auth-login-url", required=True, help="The platform's OIDC authorization endpoint.")
@click.option("--auth-token-url", required=True, help="The platform's OAuth2 token endpoint.")
@click.option("--key-set-url", required=True, help="The platform's public JWKS URL.")
@click.option(
    "--deployment-id",
    "deployment_ids",
    multiple=True,
    required=True,
    help="A deployment id; repeat for several.",
)
@click.option("--name", default="", help="The institution's name, shown in the tool.")
def register_command(
    issuer: str,
    client_id: str,
    auth_login_url: str,
    auth_token_url: str,
    key_set_url: str,
    deployment_ids: tuple[str, ...],
    name: str,
) -> None:
    """Register a platform and its deployments (running it again adds deployments)."""
    spec = registry.PlatformSpec(issuer, client_id, auth_login_url, auth_token_url, key_set_url)
    platform = registry.register(spec, list(deployment_ids), name)
    click.echo(
        f"Registered {platform.issuer} client {platform.client_id}: deployments "
        + ", ".join(t.deployment_id for t in platform.tenants)
    )


@lti_cli.command("list")
def list_command() -> None:
    """List registered platforms and their deployments."""
    platforms = db.session.scalars(select(Platform).order_by(Platform.id)).all()
    if not platforms:
        click.echo("No platforms are registered.")
    for platform in platforms:
        when = platform.registered_at or platform.created_at
        click.echo(
            f"{platform.issuer}  client_id={platform.client_id}  "
            f"jwks={platform.key_set_url or '(inline)'}  registered {platform.registered_via} "
            f"{when:%Y-%m-%d %H:%M}Z"
            + ("  PENDING APPROVAL" if platform.status == "pending" else "")
            + (
                "  (deployment recorded at first launch)"
                if platform.adopts_first_deployment
                else ""
            )
        )
        click.echo(f"    SIS permissions: {_permissions_seen(platform)}")
        for tenant in platform.tenants:
            click.echo(f"    deployment {tenant.deployment_id}  {tenant.name}")


def _permissions_seen(platform: Platform) -> str:
    """Whether the platform's latest launch carried Canvas's SIS permissions field (so an
    operator knows when CANVAS_PERMISSIONS=require would leave nobody look-only by mistake)."""
    latest = db.session.scalars(
        select(Launch)
        .join(Tenant, Tenant.id == Launch.tenant_id)
        .where(Tenant.platform_id == platform.id)
        .order_by(Launch.created_at.desc())
        .limit(1)
    ).first()
    if latest is None:
        return "no launch kept (launches are forgotten once they expire)"
    carried = "carried" if latest.sis_permissions is not None else "did NOT carry"
    return f"the latest launch ({latest.created_at:%Y-%m-%d %H:%M}Z) {carried} the field"


@lti_cli.command("remove")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
@click.option(
    "--deployment-id",
    default=None,
    help="Remove only this deployment; without it the whole platform goes.",
)
def remove_command(issuer: str, client_id: str, deployment_id: str | None) -> None:
    """Remove a deployment (and its rostering history) or a whole platform."""
    if not registry.remove(issuer, client_id, deployment_id):
        raise click.ClickException("No such registration.")
    click.echo("Removed.")


@lti_cli.command("approve")
@click.option("--issuer", required=True)
@click.option("--client-id", required=True)
def approve_command(issuer: str, client_id: str) -> None:
    """Let a platform that registered itself (REGISTRATION_REQUIRES_APPROVAL) launch."""
    if not registry.approve(issuer, client_id):
        raise click.ClickException("No such registration.")
    click.echo(f"Approved {issuer} client {client_id}.")


@lti_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(path: Path) -> None:
    """Import registrations from a PyLTI1p3-format JSON tool config."""
    try:
        specs = registry.specs_from_pylti_config(json.loads(path.read_text()))
    except (ValueError, AttributeError, TypeError) as exc:
        raise click.ClickException(f"{path} is not a PyLTI1p3 tool config: {exc}") from exc
    for spec, deployment_ids in specs:
        registry.register(spec, deployment_ids)
        click.echo(f"Imported {spec.issuer} client {spec.client_id}: {', '.join(deployment_ids)}")


@lti_cli.command("rotate-keys")
def rotate_keys_command() -> None:
    """Add a new signing key; older keys stay in the JWKS until retired."""
    key = keys.create_key()
    click.echo(f"New signing key {key.kid}. Retire an old key with: flask lti retire-key KID")


# A key id is base64url: one in 64 starts with "-", which must not be read as an option.
@lti_cli.command("retire-key", context_settings={"ignore_unknown_options": True})
@click.argument("kid")
def retire_key_command(kid: str) -> None:
    """Take a key out of the JWKS (the last live key cannot be retired)."""
    if not keys.retire_key(kid):
        raise click.ClickException("No such live key, or it is the only one left.")
    click.echo(f"Retired {kid}.")


@lti_cli.command("keys")
def keys_command() -> None:
    """List the tool's live signing keys, newest (active) first."""
    for key in keys.live_keys():
        click.echo(f"{key.kid}  created {key.created_at:%Y-%m-%d %H:%M} UTC")

"""The operator's commands for an institution's job store: ``flask history`` (how long its
Rostering Jobs history is kept, and the purge the worker runs once a day) and ``flask schedule
blackout`` (its sync blackouts). Each change is recorded in the activity trail, as the tab's
are; they live above the job store (which knows nothing of who does what)."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup

from . import activity
from .extensions import db
from .lti.cli import tenant_option, tenant_options
from .lti.models import Tenant
from .rostering import blackouts, retention

history_cli = AppGroup("history", help="How long each institution's history is kept.")


@history_cli.command("keep")
@tenant_options
@click.option("--years", type=click.Choice([str(y) for y in retention.CHOICES]), default=None)
@click.option("--forever", is_flag=True, help="Keep every job (the default).")
def keep_command(
    issuer: str, client_id: str, deployment_id: str, years: str | None, forever: bool
) -> None:
    """Set how long an institution keeps its history (as its admins can in the tab)."""
    if forever == (years is not None):
        raise click.UsageError("give --years N or --forever")
    tenant = tenant_option(issuer, client_id, deployment_id)
    chosen = None if forever else int(years or 0)
    activity.record(
        tenant.id,
        "history.changed",
        before={"years": retention.keeping(tenant.id).years or "forever"},
        after={"years": chosen or "forever"},
    )
    retention.keep(tenant.id, chosen, "the operator")
    kept = retention.keeping(tenant.id)
    click.echo(
        f"{tenant.display_name} keeps "
        + (f"{kept.years} year(s)" if kept.years else "its whole history")
        + (f" (HISTORY_MAX_YEARS is {kept.ceiling})" if kept.ceiling else "")
        + "."
    )


@history_cli.command("purge")
def purge_command() -> None:
    """Remove now every job past its institution's history (the worker does it daily)."""
    removed = retention.purge_all()
    for tenant_id, count in removed.items():
        tenant = db.session.get(Tenant, tenant_id)
        click.echo(f"{tenant.display_name if tenant else tenant_id}: {count:,} job(s) removed")
    click.echo(f"Removed {sum(removed.values()):,} job(s) in all.")


schedule_cli = AppGroup("schedule", help="An institution's sync schedule.")
blackout_cli = AppGroup("blackout", help="Days no scheduled sync runs (as admins set in the tab).")
schedule_cli.add_command(blackout_cli)


@blackout_cli.command("add")
@tenant_options
@click.option("--from", "starts_on", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--to", "ends_on", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Included.")
@click.option("--reason", default="", help="What the days are, e.g. 'Winter break'.")
def blackout_add(
    issuer: str, client_id: str, deployment_id: str, starts_on: Any, ends_on: Any, reason: str
) -> None:
    """Add a blackout, in the institution's zone (its schedule's)."""
    tenant = tenant_option(issuer, client_id, deployment_id)
    zone = blackouts.zone_of(tenant.id)
    try:
        added = blackouts.add(
            tenant.id, starts_on.date(), ends_on.date(), reason=reason, zone=zone,
            by=activity.OPERATOR,
        )  # fmt: skip
    except blackouts.BlackoutRefused as exc:
        raise click.ClickException(str(exc)) from exc
    span = {"from": added.starts_on.isoformat(), "to": added.ends_on.isoformat()}
    activity.record(tenant.id, "blackout.added", subject=reason, after={**span, "timezone": zone})
    db.session.commit()
    click.echo(f"Added blackout {added.id}: {added.starts_on} to {added.ends_on} ({zone}).")


@blackout_cli.command("list")
@tenant_options
def blackout_list(issuer: str, client_id: str, deployment_id: str) -> None:
    """List an institution's blackouts, past ones included."""
    tenant = tenant_option(issuer, client_id, deployment_id)
    for b in blackouts.of(tenant.id):
        click.echo(f"{b.id}  {b.starts_on} to {b.ends_on}  {b.timezone}  {b.reason or '-'}")


@blackout_cli.command("remove")
@tenant_options
@click.argument("blackout_id", type=int)
def blackout_remove(issuer: str, client_id: str, deployment_id: str, blackout_id: int) -> None:
    """Remove a blackout by the id `list` shows."""
    tenant = tenant_option(issuer, client_id, deployment_id)
    blackout = blackouts.get(tenant.id, blackout_id)
    if blackout is None:
        raise click.ClickException(f"{tenant.display_name} has no blackout {blackout_id}.")
    activity.record(
        tenant.id, "blackout.removed", subject=blackout.reason,
        before={"from": blackout.starts_on.isoformat(), "to": blackout.ends_on.isoformat()},
    )  # fmt: skip
    db.session.delete(blackout)
    db.session.commit()
    click.echo(f"Removed blackout {blackout_id}.")

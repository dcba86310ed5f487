"""``flask history ...``: how long each institution keeps its Rostering Jobs history, and the
purge (the worker runs it once a day)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .. import activity
from ..extensions import db
from ..lti.cli import tenant_option, tenant_options
from ..lti.models import Tenant
from . import retention

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

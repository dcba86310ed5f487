"""``flask activity export``: the trail as JSON lines, for a SIEM."""

from __future__ import annotations

import json
from datetime import datetime

import click
from flask.cli import AppGroup

from ..lti.cli import tenant_option
from ..timeutil import as_utc
from . import document, every

activity_cli = AppGroup("activity", help="Who did what: each institution's activity trail.")


@activity_cli.command("export")
@click.option("--since", help="Only rows at or after this time (ISO 8601, e.g. 2026-12-01T00:00Z).")
@click.option("--issuer", help="One institution: its platform's issuer…")
@click.option("--client-id", help="…client id…")
@click.option("--deployment-id", help="…and deployment id (all three, or none for every one).")
def export_command(
    since: str | None, issuer: str | None, client_id: str | None, deployment_id: str | None
) -> None:
    """Print the activity, oldest first, one JSON object a line."""
    named = [issuer, client_id, deployment_id]
    if any(named) and not all(named):
        raise click.UsageError("give all of --issuer, --client-id and --deployment-id, or none")
    tenant_id = (
        tenant_option(issuer or "", client_id or "", deployment_id or "").id if all(named) else None
    )
    try:
        start = as_utc(datetime.fromisoformat(since.replace("Z", "+00:00"))) if since else None
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 time: {since}", param_hint="--since") from exc
    for row in every(tenant_id, since=start):
        click.echo(json.dumps(document(row), ensure_ascii=False))

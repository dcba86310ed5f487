"""``flask alerts ...``: an institution's recipients and its change guard, for the operator."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from flask.cli import AppGroup

from .. import activity, crypto
from ..extensions import db
from ..lti.cli import tenant_option, tenant_options
from ..lti.models import Tenant
from ..rostering import blackouts
from . import guard, outbox, recipients
from .models import EVENT_NAMES, AlertRecipient, Channel

alerts_cli = AppGroup("alerts", help="Who hears of an institution's syncs, and its change guard.")


def _events(value: str | None) -> list[str] | None:
    return None if value is None else value.split(",")


@alerts_cli.command("add")
@tenant_options
@click.option("--email", help="An email address.")
@click.option("--webhook", help="A webhook URL (https).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "slack", "teams"]),
    default="json",
    show_default=True,
    help="The webhook's format: Standard Webhooks JSON (signed), Slack or Teams.",
)
@click.option("--events", help=f"Comma-separated, of {','.join(EVENT_NAMES)} (default: all).")
def add_command(
    issuer: str,
    client_id: str,
    deployment_id: str,
    email: str | None,
    webhook: str | None,
    fmt: str,
    events: str | None,
) -> None:
    """Add a recipient; prints its id last (and a json webhook's signing secret, once)."""
    tenant = tenant_option(issuer, client_id, deployment_id)
    if bool(email) == bool(webhook):
        raise click.UsageError("Give exactly one of --email and --webhook.")
    if email:
        activity.record(tenant.id, "alerts.recipient_added", subject=email.strip())
    else:
        activity.record(
            tenant.id, "alerts.recipient_added", subject=f"{fmt} webhook", after={"channel": fmt}
        )
    try:
        if email:
            recipient = recipients.add_email(
                tenant.id, email, events=_events(events), locale="en", added_by="the operator"
            )
        else:
            recipient, secret = recipients.add_webhook(
                tenant.id,
                webhook or "",
                Channel(fmt),
                events=_events(events),
                locale="en",
                added_by="the operator",
            )
            if secret:
                click.echo(f"Signing secret (shown once): {secret}")
    except recipients.RecipientRefused as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Added {recipient.shown} for {tenant.display_name}: {', '.join(recipient.events)}")
    click.echo(recipient.id)


@alerts_cli.command("list")
@tenant_options
def list_command(issuer: str, client_id: str, deployment_id: str) -> None:
    """List an institution's recipients and how their last alert went."""
    tenant = tenant_option(issuer, client_id, deployment_id)
    found = recipients.for_tenant(tenant.id)
    if not found:
        click.echo(f"{tenant.display_name} has no alert recipients.")
    for r in found:
        last = (
            f"{r.last_outcome} at {r.last_attempt_at:%Y-%m-%d %H:%M}Z"
            if r.last_attempt_at
            else "nothing sent yet"
        )
        click.echo(f"{r.id}  {r.channel:<6} {r.shown}  [{','.join(r.events)}]  {last}")


def _recipient_option(
    issuer: str, client_id: str, deployment_id: str, recipient_id: int
) -> tuple[Tenant, AlertRecipient]:
    """The institution the options name and its recipient ``recipient_id``, or a plain error."""
    tenant = tenant_option(issuer, client_id, deployment_id)
    recipient = recipients.get(tenant.id, recipient_id)
    if recipient is None:
        raise click.ClickException(f"{tenant.display_name} has no recipient {recipient_id}.")
    return tenant, recipient


@alerts_cli.command("remove")
@tenant_options
@click.argument("recipient_id", type=int)
def remove_command(issuer: str, client_id: str, deployment_id: str, recipient_id: int) -> None:
    """Remove one of an institution's recipients."""
    tenant, recipient = _recipient_option(issuer, client_id, deployment_id, recipient_id)
    activity.record(tenant.id, "alerts.recipient_removed", subject=recipients.describe(recipient))
    recipients.delete(recipient)
    click.echo(f"Removed recipient {recipient_id}.")


@alerts_cli.command("test")
@tenant_options
@click.argument("recipient_id", type=int)
def test_command(issuer: str, client_id: str, deployment_id: str, recipient_id: int) -> None:
    """Send a test alert to one recipient now and say how it went."""
    tenant, recipient = _recipient_option(issuer, client_id, deployment_id, recipient_id)
    activity.record(tenant.id, "alerts.test_sent", subject=recipients.describe(recipient))
    delivery = outbox.queue_test(recipient, owner="cli")
    result = outbox.send([delivery])
    click.echo(f"Test to {recipient.shown}: {recipient.last_outcome}")
    if not result["delivered"]:
        raise SystemExit(1)


@alerts_cli.command("guard")
@tenant_options
@click.option("--percent", type=click.IntRange(1, 100), help="Hold above this share deleted.")
@click.option("--count", type=click.IntRange(min=1), help="Hold above this many deleted.")
@click.option("--off", is_flag=True, help="Turn the change guard off.")
def guard_command(
    issuer: str,
    client_id: str,
    deployment_id: str,
    percent: int | None,
    count: int | None,
    off: bool,
) -> None:
    """Set an institution's change guard (or show it, with no option)."""
    tenant = tenant_option(issuer, client_id, deployment_id)
    current = guard.thresholds(tenant.id)
    if off and (percent or count):
        raise click.UsageError("--off takes no --percent or --count.")
    if off or percent or count:
        wanted = guard.Thresholds(not off, percent or current.percent, count or current.count)
        activity.record(
            tenant.id, "guard.changed", before=current.document(), after=wanted.document()
        )
        current = guard.configure(
            tenant.id,
            enabled=wanted.enabled,
            percent=wanted.percent,
            count=wanted.count,
            by="the operator",
        )
    state = "on" if current.enabled else "off"
    click.echo(
        f"Change guard for {tenant.display_name}: {state}; holds a sync deleting more than "
        f"{current.percent} % or more than {current.count:,} objects of a kind."
    )


@alerts_cli.command("rotate-key")
@click.pass_context
def rotate_key_command(ctx: click.Context) -> None:
    """Re-encrypt every stored secret (all of them, not only the webhooks'): as `flask
    secrets rotate-key`."""
    ctx.invoke(crypto.rotate_key_command)


@alerts_cli.command("allow")
@tenant_options
@click.option("--percent", type=click.IntRange(1, 100), help="Hold above this share deleted.")
@click.option("--count", type=click.IntRange(min=1), help="Hold above this many deleted.")
@click.option("--until", "until", help="When it ends (ISO 8601, within 7 days).")
@click.option("--syncs", type=click.IntRange(1, guard.MAX_ALLOWANCE_SYNCS), help="Or after this many syncs.")  # noqa: E501
@click.option("--reason", default="", help="Why, e.g. 'Spring term starts'.")
@click.option("--off", is_flag=True, help="End the allowance now.")
def allow_command(
    issuer: str, client_id: str, deployment_id: str, percent: int | None, count: int | None,
    until: str | None, syncs: int | None, reason: str, off: bool,
) -> None:  # fmt: skip
    """A one-time allowance: a larger change guard line for a while (whichever ends first)."""
    tenant = tenant_option(issuer, client_id, deployment_id)
    if off:
        guard.end_allowance(tenant.id)
        db.session.commit()
        click.echo(f"The allowance of {tenant.display_name} has ended.")
        return
    if percent is None or count is None:
        raise click.UsageError("give --percent and --count (or --off)")
    try:
        ends = datetime.fromisoformat(until.replace("Z", "+00:00")) if until else None
        if ends is not None and ends.tzinfo is None:
            raise ValueError("--until needs its zone, e.g. 2026-12-20T06:00:00-07:00")
        before = guard.thresholds(tenant.id).document()
        allowance = guard.allow(
            tenant.id, percent=percent, count=count, until=ends, syncs=syncs, reason=reason,
            by=activity.OPERATOR,
        )  # fmt: skip
    except ValueError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    activity.record(
        tenant.id, "guard.allowance_set", subject=allowance.reason, before=before,
        after={"enabled": True, **allowance.document()},
    )  # fmt: skip
    db.session.commit()
    click.echo(
        f"{tenant.display_name} allows up to {percent} % or {count:,} until "
        f"{allowance.until.isoformat()}"
        + (f" or for {syncs} sync(s)" if syncs else "") + "."
    )


@alerts_cli.command("additions-only")
@tenant_options
@click.option("--from", "starts_on", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--to", "ends_on", type=click.DateTime(["%Y-%m-%d"]), help="Included.")
@click.option("--off", is_flag=True, help="Apply deletions again now.")
def additions_only_command(
    issuer: str, client_id: str, deployment_id: str, starts_on: Any, ends_on: Any, off: bool
) -> None:
    """Only add, never remove: syncs import with Canvas's skip_deletes from one day to another."""
    tenant = tenant_option(issuer, client_id, deployment_id)
    if off:
        guard.end_additions_only(tenant.id)
        db.session.commit()
        click.echo(f"{tenant.display_name} applies deletions again.")
        return
    if starts_on is None or ends_on is None:
        raise click.UsageError("give --from and --to (or --off)")
    zone = blackouts.zone_of(tenant.id)
    try:
        guard.set_additions_only(tenant.id, starts_on.date(), ends_on.date(), zone)
    except ValueError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    activity.record(
        tenant.id, "guard.additions_only_set",
        after={"from": starts_on.date().isoformat(), "to": ends_on.date().isoformat(), "timezone": zone},  # noqa: E501
    )  # fmt: skip
    db.session.commit()
    click.echo(f"{tenant.display_name} takes additions only from {starts_on:%Y-%m-%d} to {ends_on:%Y-%m-%d}.")  # noqa: E501

"""``flask demo load``: the test platform's registration and realistic rostering histories."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..canvas import connections
from ..extensions import db
from ..lti import registry
from ..lti.models import Tenant
from ..rostering import reading, sync, writing
from ..rostering.models import SCHEDULED_POSTER, STAGES, JobStatus, SyncSchedule, Trigger
from ..timeutil import utcnow
from . import platform as devplatform
from .standin import DEMO_TOKEN

demo_cli = AppGroup("demo", help="Demo data for trying the tool with the /dev test platform.")

INSTITUTIONS = (
    # deployment id, name, SIS, hours between scheduled syncs, jobs, time zone
    ("dev-northfield", "Northfield Community College", "OneRoster", 6, 320, "America/Chicago"),
    ("dev-riverbend", "Riverbend University", "Ellucian Banner", 24, 140, "America/New_York"),
    ("dev-lakeside", "Lakeside School District", "PowerSchool SIS", 12, 0, "America/Denver"),
)
ADMINS = ("Jordan Rivera", "Priya Natarajan", "Sam O'Connell")
OBJECTS = ("users", "accounts", "terms", "courses", "sections", "enrollments")
PROBLEMS = (
    ("error", "enrollments.csv", "Course SIS ID {c} not found for the enrollment of user {u}"),
    ("error", "users.csv", "User {u} has a login ID that is already taken by another user"),
    ("error", "sections.csv", "Section {c}-01 references term FA26, which does not exist"),
    ("warning", "users.csv", "User {u} has no email address; no notifications will be sent"),
    ("warning", "courses.csv", "Course {c} has no start date; the term's dates will be used"),
    ("warning", "enrollments.csv", "Enrollment of user {u} in {c} was skipped: already concluded"),
)


def _stage_history(start: datetime, last_stage: str) -> list[dict[str, str]]:
    steps = STAGES[: STAGES.index(last_stage) + 1]
    return [
        {"stage": stage, "at": (start + timedelta(minutes=3 * i)).isoformat()}
        for i, stage in enumerate(steps)
    ]


def _import_json(
    rng: random.Random, external_id: str, counts: dict[str, dict[str, int]], state: str
) -> str:
    document = {
        "id": rng.randint(10_000, 99_999),
        "sis_batch_id": external_id,
        "workflow_state": state,
        "data": {
            "import_type": "instructure_csv",
            "supplied_batches": sorted(counts),
            "counts": {name: sum(c.values()) for name, c in counts.items()},
        },
        "diffing_data_set_identifier": "sis-integration",
        "override_sis_stickiness": False,
    }
    return json.dumps(document, indent=1)


def _job(
    rng: random.Random,
    index: int,
    when: datetime,
    sis_type: str,
    scheduled: bool,
    status: JobStatus,
) -> writing.NewJob:
    external_id = f"sync-{when:%Y%m%d%H%M}-{index:04d}"
    counts = {
        name: {
            "created": rng.randint(0, 40),
            "updated": rng.randint(0, 300),
            "deleted": rng.randint(0, 5),
        }
        for name in OBJECTS
    }
    messages = []
    stage = ""
    last_stage = STAGES[-1]
    if status is JobStatus.WARNING:
        messages = [PROBLEMS[rng.randint(3, 5)] for _ in range(rng.randint(1, 4))]
    elif status is JobStatus.FAILED:
        stage = last_stage = rng.choice(STAGES[1:])
        messages = [PROBLEMS[rng.randint(0, 2)] for _ in range(rng.randint(1, 6))]
        messages += [PROBLEMS[rng.randint(3, 5)] for _ in range(rng.randint(0, 2))]
    elif status is JobStatus.IN_PROGRESS:
        stage = last_stage = rng.choice(STAGES)
    state = {
        "completed": "imported",
        "warning": "imported_with_messages",
        "failed": "failed_with_messages",
        "in_progress": "importing",
    }[status.value]
    return writing.NewJob(
        external_id=external_id,
        posted_by=SCHEDULED_POSTER if scheduled else rng.choice(ADMINS),
        trigger=Trigger.SCHEDULED if scheduled else Trigger.MANUAL,
        sis_type=sis_type,
        status=status,
        stage=stage,
        change_counts={} if status is JobStatus.IN_PROGRESS else counts,
        stage_history=_stage_history(when, last_stage),
        files=[("canvas_import.json", _import_json(rng, external_id, counts, state))],
        messages=[
            {
                "severity": sev,
                "file": file,
                "row": rng.randint(2, 4000),
                "message": text.format(
                    c=f"BIO-{rng.randint(100, 499)}", u=rng.randint(10_000, 99_999)
                ),
            }
            for sev, file, text in messages
        ],
        created_at=when,
        updated_at=when + timedelta(minutes=3 * (STAGES.index(last_stage) + 1)),
    )


def load_history(tenant: Tenant, sis_type: str, every_hours: int, count: int, zone: str) -> bool:
    """Give a tenant a schedule and ``count`` jobs; False (and nothing done) if it has them."""
    if reading.job_count(tenant.id) or sync.get_schedule(tenant.id):
        return False
    rng = random.Random(tenant.deployment_id)
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    first_run = now - timedelta(hours=every_hours * (count + 5))
    db.session.add(
        SyncSchedule(
            tenant_id=tenant.id,
            frequency="daily" if every_hours == 24 else "hourly",
            every_hours=None if every_hours == 24 else every_hours,
            time_of_day="02:00" if every_hours == 24 else None,
            first_run=first_run,
            timezone=zone,
            posted_by=SCHEDULED_POSTER,
        )
    )
    for index in range(count):
        when = (
            now
            - timedelta(hours=every_hours * (count - index))
            + timedelta(minutes=rng.randint(0, 20))
        )
        latest = index == count - 1
        status = (
            JobStatus.IN_PROGRESS
            if latest
            else rng.choices(
                [JobStatus.COMPLETED, JobStatus.WARNING, JobStatus.FAILED], weights=[80, 14, 6]
            )[0]
        )
        scheduled = rng.random() > 0.15
        writing.create_job(
            tenant.id, _job(rng, index, when, sis_type, scheduled, status), commit=False
        )
    db.session.commit()
    return True


def connect_demo_canvas(port: int) -> None:
    """The dev platform's Canvas, on both loopback names: its API key (so Riverbend can
    Connect to Canvas in the tab) and a hand-made token for Lakeside, which has no agent."""
    canvas = devplatform.CANVAS
    for host in ("127.0.0.1", "localhost"):
        base_url = f"http://{host}:{port}{devplatform.CANVAS_PATH}"
        if connections.api_key_for(base_url) is None:
            connections.add_api_key(base_url, canvas.client_id, canvas.client_secret)
    lakeside = db.session.scalars(
        select(Tenant).where(Tenant.deployment_id == "dev-lakeside")
    ).one()
    base_url = f"http://127.0.0.1:{port}{devplatform.CANVAS_PATH}"
    existing = connections.for_tenant(lakeside.id)
    # Connected, unless `make run` last served on another port: then to this one.
    if existing is None or existing.base_url != base_url:
        connections.connect(
            lakeside,
            base_url=base_url,
            account_id="1",
            method="token",
            access_token=DEMO_TOKEN,
            connected_by="the demo loader (token)",
        )
        click.echo(f"{lakeside.name}: connected to the test platform's Canvas")


@demo_cli.command("load")
@click.option("--port", default=5000, show_default=True, help="The port `make run` serves on.")
def load_command(port: int) -> None:
    """Register the /dev test platform and give its institutions rostering histories."""
    spec = registry.PlatformSpec(
        issuer=devplatform.ISSUER,
        client_id=devplatform.CLIENT_ID,
        auth_login_url=devplatform.AUTH_PATH,
        auth_token_url=devplatform.AUTH_PATH,
        key_set=devplatform.public_key_set(),
    )
    for deployment_id, name, sis_type, every_hours, count, zone in INSTITUTIONS:
        platform = registry.register(spec, [deployment_id], name)
        tenant = next(t for t in platform.tenants if t.deployment_id == deployment_id)
        if load_history(tenant, sis_type, every_hours, count, zone):
            click.echo(f"{name}: a schedule and {count} jobs loaded")
        else:
            click.echo(f"{name}: already loaded")
    connect_demo_canvas(port)

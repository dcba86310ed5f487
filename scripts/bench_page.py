"""What the tab's page costs beside what its data costs, in `make bench` (``--page-only`` for just
these): one institution with ``--page-jobs`` jobs (a million) and every section the tabs show —
a schedule, a held sync, 20 alert recipients (two of them webhooks), a Canvas connection, a
History policy, an upcoming blackout, an agent token and the change guard — and, in the same
process and the same interleaved rounds, the server time of:

* the Rostering tab's page 1 (the 25 newest jobs with everything around them);
* the agent API's page of the same 25 jobs (``GET /api/v1/rostering_jobs``), the reference:
  what reading and sending those 25 rows costs;
* the Settings tab, reported beside them.
"""

from __future__ import annotations

import argparse
import re
from datetime import timedelta

import flask_migrate

from lti_app import create_app
from lti_app.alerts import guard, recipients
from lti_app.alerts.models import Channel
from lti_app.api import tokens
from lti_app.canvas import connections
from lti_app.extensions import db
from lti_app.lti import registry
from lti_app.lti.models import Tenant
from lti_app.rostering import approvals, blackouts, retention, sync, writing
from lti_app.rostering.models import JobStatus, Trigger
from lti_app.timeutil import utcnow
from scripts.benchkit import Row, ServerClock, generate, settle
from tests.support.launcher import Launcher, https_client, platform_spec
from tests.support.platform import TestPlatform

CANVAS = "https://canvas.bench.example.edu"
# Each database's line for the page at a million jobs, on an idle machine.
TARGET_MS = {"sqlite": 6.0, "postgresql": 8.0}


def furnish(tenant: Tenant) -> None:
    """Give an institution every section the tabs show."""
    now = utcnow()
    sync.save_schedule(
        tenant.id,
        {"frequency": "daily", "time_of_day": "02:00", "first_run": now, "timezone": "UTC"},
    )
    held = writing.create_job(
        tenant.id,
        writing.NewJob(
            external_id="held-sync",
            posted_by="Canvas Integrations Admin",
            trigger=Trigger.SCHEDULED,
            sis_type="OneRoster",
            status=JobStatus.IN_PROGRESS,
            stage="Canvas Import",
            created_at=now,
            updated_at=now,
        ),
    )
    approvals.hold(
        held, ["would delete 4,000 of 12,000 enrollments"], {"enrollments": {"deleted": 4000}}
    )
    for n in range(18):
        recipients.add_email(
            tenant.id, f"admin{n}@bench.example.edu", events=None, locale="en", added_by="Bench"
        )
    for n, channel in enumerate((Channel.SLACK, Channel.TEAMS)):
        recipients.add_webhook(
            tenant.id, f"https://hooks.bench.example.edu/{n}", channel, events=None,
            locale="en", added_by="Bench",
        )  # fmt: skip
    tenant.canvas_api_base_url, tenant.canvas_root_account_id = CANVAS, "1"
    connections.add_api_key(CANVAS, "170000000000042", "secret")
    connections.connect(tenant, base_url=CANVAS, account_id="1", method="token",
                        access_token="7~bench", connected_by="Bench Operator")  # noqa: S106  # fmt: skip
    retention.keep(tenant.id, 3, by="Bench")
    today = now.date()
    blackouts.add(tenant.id, today + timedelta(days=30), today + timedelta(days=35),
                  reason="Spring break", zone="UTC", by="Bench")  # fmt: skip
    guard.set_additions_only(tenant.id, today + timedelta(days=60), today + timedelta(days=65),
                             "UTC")  # fmt: skip
    db.session.commit()


def bench_page(name: str, url: str, args: argparse.Namespace, platform: TestPlatform) -> list[Row]:
    app = create_app(
        {
            "APP_ENV": "testing",
            "SQLALCHEMY_DATABASE_URI": url,
            "LAUNCH_TOKEN_TTL": 3600,
            "MAIL_SERVER": "127.0.0.1",  # set up, as in production: nothing is sent here
            "WEBHOOK_ALLOWED_HOSTS": ["hooks.bench.example.edu"],
        }
    )
    with app.app_context():
        flask_migrate.upgrade()
        registry.register(platform_spec(platform), ["dep-page"], "Page College")
        tenant = registry.find_tenant(platform.issuer, platform.client_id, "dep-page")
        db.session.commit()
        generate(url, [(tenant.id, 7, args.page_jobs)])
        furnish(db.session.get(Tenant, tenant.id))
        _, api_token = tokens.create(db.session.get(Tenant, tenant.id), "bench agent")
        db.session.commit()
        settle()

    clock = ServerClock(app)
    client = https_client(app)
    token = Launcher(client, platform).admin_token("dep-page")
    bearer = {"Authorization": f"Bearer {api_token}"}
    # The same 25 jobs on both: the page's rows and the API's, newest first.
    page = client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)
    api = client.get("/api/v1/rostering_jobs", headers=bearer).get_json()
    shown = re.findall(r'data-job-id="([0-9a-f]+)"', page)
    assert shown == [job["id"] for job in api["data"]], "the page and the API show other jobs"
    assert "held-sync" in page or "would delete 4,000" in page, "the held sync is not shown"

    measured = clock.medians(
        {
            "page": (
                lambda: client.get("/rostering/", query_string={"launch_token": token}),
                args.repeat,
            ),
            "api": (lambda: client.get("/api/v1/rostering_jobs", headers=bearer), args.repeat),
            "settings": (
                lambda: client.get("/rostering/settings", query_string={"launch_token": token}),
                args.repeat,
            ),
        },
        rounds=5,
    )
    with app.app_context():
        db.engine.dispose()
    page_ms, api_ms, settings_ms = measured["page"], measured["api"], measured["settings"]
    target = TARGET_MS[name]
    return [
        Row(name, f"Rostering page 1, every section, {args.page_jobs:,} jobs", page_ms, "ms",
            api_ms, "API, same 25 jobs", f"≤ 1.5 ×, ≤ {target:g} ms",
            page_ms <= 1.5 * api_ms and page_ms <= target),
        Row(name, "Settings page, every section", settings_ms, "ms", api_ms,
            "API, same 25 jobs", "report", None),
    ]  # fmt: skip

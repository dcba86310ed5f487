"""The activity trail in `make bench` (``--activity-only`` for just these): what recording who
did what adds to a write. An admin's Pause / Resume is one UPDATE and a commit; with its activity
row it is that UPDATE, an INSERT into a trail already holding ``--activity-rows`` rows (100,000),
and the same commit. Both are timed in the same process, interleaved a pair at a time, so a
slow spell of the machine weighs on both alike; the line is the difference of the medians.
"""

from __future__ import annotations

import argparse
import statistics
import time

import flask_migrate
from sqlalchemy import insert

from lti_app import activity, create_app
from lti_app.activity.models import Activity
from lti_app.extensions import db
from lti_app.lti import registry
from lti_app.rostering import sync
from lti_app.timeutil import utcnow
from scripts.benchkit import Row, settle
from tests.support.launcher import platform_spec
from tests.support.platform import TestPlatform


def bench_activity(
    name: str, url: str, args: argparse.Namespace, platform: TestPlatform
) -> list[Row]:
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        flask_migrate.upgrade()
        registry.register(platform_spec(platform), ["dep-trail"], "Trail College")
        tenant_id = registry.find_tenant(platform.issuer, platform.client_id, "dep-trail").id
        sync.save_schedule(
            tenant_id,
            {
                "frequency": "daily",
                "time_of_day": "02:00",
                "first_run": utcnow(),
                "timezone": "UTC",
            },
        )
        now = utcnow()
        for start in range(0, args.activity_rows, 10_000):
            db.session.execute(
                insert(Activity),
                [
                    {
                        "tenant_id": tenant_id,
                        "at": now,
                        "actor_kind": "person",
                        "actor": "Avery",
                        "action": "sync.requested",
                    }
                    for _ in range(start, min(args.activity_rows, start + 10_000))
                ],
            )
            db.session.commit()
        settle()
        paused = [False]

        def write(recorded: bool) -> float:
            paused[0] = not paused[0]
            started = time.perf_counter()
            if recorded:
                activity.record(
                    tenant_id, "schedule.paused" if paused[0] else "schedule.resumed",
                    before={"enabled": paused[0]}, after={"enabled": not paused[0]},
                )  # fmt: skip
            sync.set_paused(tenant_id, paused[0], "Avery Admin")
            return (time.perf_counter() - started) * 1000

        for _ in range(50):  # warm both paths
            write(False)
            write(True)
        alone, recorded = [], []
        for _ in range(args.repeat * 10):
            alone.append(write(False))
            recorded.append(write(True))
        db.engine.dispose()
    added = statistics.median(recorded) - statistics.median(alone)
    return [
        Row(
            name,
            f"a write with its activity row ({args.activity_rows:,} in the trail)",
            statistics.median(recorded),
            "ms",
            statistics.median(alone),
            "the write alone",
            "report",
            None,
        ),
        Row(
            name,
            "what recording activity adds to a write",
            added,
            "ms",
            None,
            "",
            "≤ 1 ms",
            added <= 1.0,
        ),
    ]

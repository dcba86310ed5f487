"""Every row of a Canvas import in `make bench` (``--error-rows-only`` for just these):

* reading an import's 50,000 error rows from the stand-in Canvas over HTTP, pass after pass
  (20 pages each) as the worker does: rows stored per second of polling, and requests made;
* the Details window's first page of those rows, its last, and the agent API's job GET (first
  100 messages and a cursor), in server time, against page 1 of the Rostering Jobs list.
"""

from __future__ import annotations

import argparse
import threading
import time

import flask_migrate
from sqlalchemy import select
from werkzeug.serving import make_server

from lti_app import create_app
from lti_app.api import tokens
from lti_app.canvas import connections, worker
from lti_app.canvas.models import CanvasConnection, ErrorRead
from lti_app.dev.standin import StandInCanvas, sis_import
from lti_app.extensions import db
from lti_app.lti import registry
from lti_app.rostering.models import JobMessage, RosteringJob
from lti_app.timeutil import utcnow
from scripts.benchkit import Row, ServerClock, settle
from tests.support.launcher import Launcher, https_client, platform_spec
from tests.support.platform import TestPlatform


def bench_error_rows(
    name: str, url: str, args: argparse.Namespace, platform: TestPlatform
) -> list[Row]:
    rows_wanted = args.error_rows
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    standin = StandInCanvas()
    now = utcnow()
    standin.put("1", sis_import(9001, now, state="failed_with_messages", errors=[["x", "y"]]))
    failures = rows_wanted * 9 // 10
    standin.add_errors(9001, failures=failures, warnings=rows_wanted - failures)
    server = make_server("127.0.0.1", 0, standin.wsgi(), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows: list[Row] = []
    with app.app_context():
        flask_migrate.upgrade()
        registry.register(platform_spec(platform), ["dep-rows"], "Error-rows College")
        tenant = registry.find_tenant(platform.issuer, platform.client_id, "dep-rows")
        connections.connect(
            tenant,
            base_url=f"http://127.0.0.1:{server.server_port}",
            account_id="1",
            method="token",
            access_token=standin.issue_token(),
            connected_by="bench",
        )
        _, api_token = tokens.create(tenant, "bench")
        owner = worker.worker_name()
        worker.poll_all(owner)  # the history: one import, and its first pass of rows
        job = db.session.scalars(select(RosteringJob)).one()
        read = db.session.get(ErrorRead, job.id)
        stored_before = read.stored
        polling = 0.0
        passes = 1
        while read.reading:
            db.session.execute(CanvasConnection.__table__.update().values(next_poll_at=utcnow()))
            db.session.commit()
            started = time.perf_counter()
            worker.poll_all(owner)
            polling += time.perf_counter() - started
            passes += 1
            db.session.refresh(read)
        requests = sum(path.endswith("/errors") for path, _ in standin.requests)
        stored = db.session.query(JobMessage).filter_by(job_id=job.id).count()
        assert stored == rows_wanted, stored
        rate = (read.stored - stored_before) / polling
        rows.append(
            Row(
                name,
                f"Canvas error rows read, {rows_wanted:,} ({failures:,} failures): "
                f"{requests:,} requests in {passes} passes",
                rate,
                "rows/s",
                None,
                "",
                "report",
                None,
            )
        )
        settle()
        public_id, last_id = (
            job.public_id,
            max(m for (m,) in db.session.execute(select(JobMessage.id).filter_by(job_id=job.id))),
        )
    clock = ServerClock(app)
    client = https_client(app)
    token = Launcher(client, platform).admin_token("dep-rows")
    times = clock.medians(
        {
            "list": (
                lambda: client.get("/rostering/", query_string={"launch_token": token}),
                args.repeat,
            ),
            "first": (
                lambda: client.get(
                    f"/rostering/jobs/{public_id}/details", query_string={"launch_token": token}
                ),
                args.repeat,
            ),
            "last": (
                lambda: client.get(
                    f"/rostering/jobs/{public_id}/details",
                    query_string={"launch_token": token, "before": last_id + 1},
                ),
                args.repeat,
            ),
            "api": (
                lambda: client.get(
                    f"/api/v1/rostering_jobs/{public_id}",
                    headers={"Authorization": f"Bearer {api_token}"},
                ),
                args.repeat,
            ),
        },
        rounds=5,
    )
    for key, label in (
        ("first", f"Details window, page 1 of {rows_wanted:,} rows"),
        ("last", f"Details window, the last page of {rows_wanted:,} rows"),
        ("api", f"API job GET, {rows_wanted:,} messages (100 and a cursor)"),
    ):
        rows.append(
            Row(
                name,
                label,
                times[key],
                "ms",
                times["list"],
                "Rostering Jobs page 1",
                "≤ 10 ms",
                times[key] <= 10,
            )
        )
    server.shutdown()
    with app.app_context():
        db.engine.dispose()
    return rows

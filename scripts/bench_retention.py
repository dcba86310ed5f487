"""History retention in `make bench` (``--retention-only`` for just these): an institution with
1,000,000 jobs over two years keeps one year, and the purge (``flask history purge``, a process
of its own, as the worker's) removes the older 500,000 while the Rostering page is served: page
1's server time at rest and during the purge, and the rows the purge removes per second.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import flask_migrate

from lti_app import create_app
from lti_app.extensions import db
from lti_app.lti import registry
from lti_app.lti.models import Tenant
from lti_app.rostering import retention, writing
from lti_app.timeutil import utcnow
from scripts.benchkit import Row, ServerClock, jobs, settle
from tests.support.launcher import Launcher, https_client, platform_spec
from tests.support.platform import TestPlatform

SPAN = timedelta(days=730)
ROOT = Path(__file__).resolve().parents[1]


def _store(url: str, tenant_id: int, anchor: datetime, step: timedelta, numbers: range) -> int:
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        stored = writing.insert_jobs(tenant_id, jobs(anchor, 0, numbers, step))
        db.engine.dispose()
    return stored


def bench_retention(
    name: str, url: str, args: argparse.Namespace, platform: TestPlatform
) -> list[Row]:
    total = args.retention_jobs
    app = create_app(
        {"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "LAUNCH_TOKEN_TTL": 3600}
    )
    with app.app_context():
        flask_migrate.upgrade()
        registry.register(platform_spec(platform), ["dep-kept"], "Retention College")
        tenant = registry.find_tenant(platform.issuer, platform.client_id, "dep-kept")
        tenant_id = tenant.id
        anchor = utcnow() - SPAN
        step = SPAN / total
        slices = [range(s, min(total, s + 100_000)) for s in range(0, total, 100_000)]
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(os.cpu_count() or 1, mp_context=context) as pool:
            stored = sum(
                pool.map(
                    _store,
                    [url] * len(slices),
                    [tenant_id] * len(slices),
                    [anchor] * len(slices),
                    [step] * len(slices),
                    slices,
                )
            )
        assert stored == total, stored
        settle()
        retention.keep(tenant_id, 1, "bench")

    clock = ServerClock(app)
    client = https_client(app)
    token = Launcher(client, platform).admin_token("dep-kept")

    def page() -> object:
        response = client.get("/rostering/", query_string={"launch_token": token})
        assert response.status_code == 200, response.status_code
        return response

    at_rest = clock.median_ms(page, args.repeat)
    # The purge in a process of its own, as the worker runs it beside the web server.
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": url}
    started = time.perf_counter()
    purge = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "history", "purge"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    during: list[float] = []
    while purge.poll() is None:
        page()
        during.append(clock.last_ms)
    purge_seconds = time.perf_counter() - started
    output = purge.communicate()[0]
    removed = int(re.search(r"Removed ([\d,]+) job", output).group(1).replace(",", ""))
    with app.app_context():
        left = db.session.get(Tenant, tenant_id).job_count
        db.engine.dispose()
    median_during = statistics.median(during)
    p95_during = statistics.quantiles(during, n=20)[-1] if len(during) >= 20 else max(during)
    return [
        Row(
            name,
            f"purge {removed:,} of {total:,} jobs ({left:,} left)",
            removed / purge_seconds,
            "rows/s",
            None,
            "",
            "report",
            None,
        ),
        Row(
            name,
            f"page 1 during the purge (median of {len(during)})",
            median_during,
            "ms",
            at_rest,
            "page 1 at rest",
            "≤ 2 × at rest",
            median_during <= 2 * at_rest,
        ),
        Row(
            name,
            "page 1 during the purge (p95)",
            p95_during,
            "ms",
            at_rest,
            "page 1 at rest",
            "report",
            None,
        ),
    ]

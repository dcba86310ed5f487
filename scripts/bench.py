#!/usr/bin/env python3
"""Scale benchmark (`make bench`): SQLite and PostgreSQL side by side, a part per subject, one
table at the end (measured, reference, ratio, target, pass/fail).

For each database each part builds a fresh schema with the migrations and generates its data
through the job store's bulk path (rows identical to one job written at a time; a generator
process per core). The parts, each in a file of its own:

* bench_jobs.py: the Rostering Jobs list, the CSV and launches at a million jobs;
* bench_canvas.py: the Canvas mirror's first sync, an idle poll;
* bench_alerts.py: the alerts' outbox, PATCH to email, 1,000 institutions failing at once;
* bench_error_rows.py: 50,000 error rows of one Canvas import, read and shown;
* bench_retention.py: purging 500,000 of 1,000,000 jobs while pages are served;
* bench_sizing.py: 5,000 institutions × 1,000 jobs on PostgreSQL, and the workers they need;
* bench_activity.py: what recording an activity row adds to an admin's write;
* bench_page.py: the tab's page 1 with every section against the API's page of the same jobs.

This file runs them (``--canvas-only``, ``--alerts-only``, ``--error-rows-only``,
``--retention-only``, ``--sizing-only``, ``--activity-only``, ``--page-only`` for one part);
what they share is in benchkit.py.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.bench_activity import bench_activity
from scripts.bench_alerts import bench_alerts
from scripts.bench_canvas import bench_canvas
from scripts.bench_error_rows import bench_error_rows
from scripts.bench_jobs import bench_database
from scripts.bench_page import bench_page
from scripts.bench_retention import bench_retention
from scripts.bench_sizing import bench_sizing
from scripts.benchkit import Row, fresh, print_table
from tests.support.platform import TestPlatform


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--jobs-per-tenant", type=int, default=100_000)
    parser.add_argument("--csv-rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=41)
    parser.add_argument("--seconds", type=float, default=10, help="for launches per second")
    parser.add_argument("--import-jobs", type=int, default=50_000, help="sent through the API")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--canvas-imports", type=int, default=10_000, help="the first sync's")
    parser.add_argument(
        "--canvas-only", action="store_true", help="only the Canvas mirror's measures"
    )
    parser.add_argument("--alerts-only", action="store_true", help="only the alerts' measures")
    parser.add_argument(
        "--error-rows-only", action="store_true", help="only the Canvas error rows' measures"
    )
    parser.add_argument("--error-rows", type=int, default=50_000, help="rows of one import")
    parser.add_argument(
        "--retention-only", action="store_true", help="only the history purge's measures"
    )
    parser.add_argument("--retention-jobs", type=int, default=1_000_000, help="half purged")
    parser.add_argument("--sizing-only", action="store_true", help="only the sizing measures")
    parser.add_argument("--sizing-institutions", type=int, default=5000)
    parser.add_argument("--sizing-jobs", type=int, default=1000, help="per institution")
    parser.add_argument("--activity-only", action="store_true", help="only the activity trail's")
    parser.add_argument("--activity-rows", type=int, default=100_000, help="in the trail first")
    parser.add_argument("--page-only", action="store_true", help="only the page against the API")
    parser.add_argument("--page-jobs", type=int, default=1_000_000, help="the page's institution")
    parser.add_argument("--alert-institutions", type=int, default=1000)
    parser.add_argument("--alert-samples", type=int, default=40, help="PATCH-to-mail latencies")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    platform = TestPlatform().start()
    workdir = Path(tempfile.mkdtemp(prefix="sis-bench-"))
    rows: list[Row] = []
    try:
        for name in args.databases.split(","):
            print(f"{name}: generating and measuring ...", flush=True)
            sections = [
                (args.canvas_only, bench_canvas, "canvas"),
                (args.alerts_only, bench_alerts, "alerts"),
                (args.error_rows_only, bench_error_rows, "rows"),
                (args.retention_only, bench_retention, "retention"),
                (args.sizing_only, bench_sizing, "sizing"),
                (args.activity_only, bench_activity, "activity"),
                (args.page_only, bench_page, "page"),
            ]
            chosen = any(only for only, _, _ in sections)
            if not chosen:
                rows += bench_database(name, fresh(name, workdir, "bench"), args, platform)
            for only, bench, label in sections:
                if only or not chosen:
                    rows += bench(name, fresh(name, workdir, label), args, platform)
    finally:
        platform.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(rows)
    return 0 if all(row.passed is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

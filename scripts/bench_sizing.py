"""Sizing in `make bench` (PostgreSQL; ``--sizing-only`` for just these): one deployment serving
every institution of a vendor.

* 5,000 institutions × 1,000 jobs (5,000,000 rows): page 1 and the live check of institutions
  at the start, the middle and the end, against the same measures with one institution alone;
* one worker's Canvas polls per second against the stand-in over real HTTP (5,000 connections:
  the first pass, which reads each history, and an idle pass), so the number of workers for N
  institutions at a 60 s poll is a division;
* two worker processes sharing the 5,000 connections: each connection polled once in the pass.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

import flask_migrate
from sqlalchemy import select, update
from werkzeug.serving import make_server

from lti_app import create_app
from lti_app.canvas import connections, worker
from lti_app.canvas.models import CanvasConnection
from lti_app.dev.standin import StandInCanvas
from lti_app.extensions import db
from lti_app.lti import registry
from lti_app.lti.models import Tenant
from lti_app.rostering import writing
from lti_app.timeutil import utcnow
from scripts.benchkit import Row, ServerClock, jobs, settle
from tests.support.launcher import Launcher, https_client, platform_spec
from tests.support.platform import TestPlatform

ROOT = Path(__file__).resolve().parents[1]


def _store(url: str, tenant_ids: list[int], per_tenant: int) -> int:
    """In a generator process: ``per_tenant`` hourly syncs for each of these institutions."""
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    stored = 0
    with app.app_context():
        anchor = utcnow() - timedelta(hours=per_tenant)
        for tenant_id in tenant_ids:
            stored += writing.insert_jobs(tenant_id, jobs(anchor, tenant_id, range(per_tenant)))
        db.engine.dispose()
    return stored


def _institutions(url: str, platform: TestPlatform, count: int, per_tenant: int) -> list[int]:
    """Register ``count`` institutions and store their histories; their ids in order."""
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        flask_migrate.upgrade()
        registry.register(platform_spec(platform), [f"inst-{n:05d}" for n in range(count)])
        ids = list(
            db.session.scalars(select(Tenant.id).order_by(Tenant.deployment_id))
        )
        db.engine.dispose()
    chunks = [ids[i : i + 100] for i in range(0, len(ids), 100)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(os.cpu_count() or 1, mp_context=context) as pool:
        stored = sum(
            pool.map(_store, [url] * len(chunks), chunks, [per_tenant] * len(chunks))
        )
    assert stored == count * per_tenant, stored
    with app.app_context():
        settle()
        db.engine.dispose()
    return ids


def _page_and_live(
    url: str, platform: TestPlatform, deployments: list[str], repeat: int
) -> dict[str, tuple[float, float]]:
    """Page 1 and the live check of each named institution (server time, median)."""
    app = create_app(
        {"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "LAUNCH_TOKEN_TTL": 3600}
    )
    clock = ServerClock(app)
    client = https_client(app)
    launcher = Launcher(client, platform)
    requests = {}
    for deployment in deployments:
        token = launcher.admin_token(deployment)
        page = client.get("/rostering/", query_string={"launch_token": token})
        shown = re.findall(
            r'data-job-id="([0-9a-f]+)" data-status="(\w+)"', page.get_data(as_text=True)
        )
        live = [("launch_token", token), ("pending", "0")]
        for public_id, status in shown:
            live += [("job", public_id), ("seen", status)]
        requests[f"page {deployment}"] = (
            lambda t=token: client.get("/rostering/", query_string={"launch_token": t}),
            repeat,
        )
        requests[f"live {deployment}"] = (
            lambda q=live: client.get("/rostering/live", query_string=q),
            repeat * 5,
        )
    measured = clock.medians(requests, rounds=5)
    with app.app_context():
        db.engine.dispose()
    return {d: (measured[f"page {d}"], measured[f"live {d}"]) for d in deployments}


def bench_sizing(
    name: str, url: str, args: argparse.Namespace, platform: TestPlatform
) -> list[Row]:
    if name != "postgresql":
        return []  # a vendor's deployment runs PostgreSQL
    count, per_tenant = args.sizing_institutions, args.sizing_jobs
    logging.getLogger("lti_app").setLevel(logging.WARNING)  # thousands of requests and polls
    rows: list[Row] = []

    # One institution alone, then 5,000 in one database.
    alone_url = url.rsplit("/", 1)[0] + "/" + url.rsplit("/", 1)[1] + "_alone"
    _recreate(alone_url)
    _institutions(alone_url, platform, 1, per_tenant)
    alone = _page_and_live(alone_url, platform, ["inst-00000"], args.repeat)["inst-00000"]
    started = time.perf_counter()
    ids = _institutions(url, platform, count, per_tenant)
    generated = time.perf_counter() - started
    rows.append(
        Row(name, f"generate {count:,} × {per_tenant:,} jobs", count * per_tenant / generated,
            "rows/s", None, "", "report", None)
    )  # fmt: skip
    picks = ["inst-00000", f"inst-{count // 2:05d}", f"inst-{count - 1:05d}"]
    many = _page_and_live(url, platform, picks, args.repeat)
    for deployment in picks:
        page, live = many[deployment]
        rows.append(
            Row(name, f"page 1 of {deployment} among {count:,}", page, "ms", alone[0],
                "one institution alone", "≤ 1.5 × alone", page <= 1.5 * alone[0])
        )  # fmt: skip
        rows.append(
            Row(name, f"live check of {deployment} among {count:,}", live, "ms", alone[1],
                "one institution alone", "≤ 1.5 × alone", live <= 1.5 * alone[1])
        )  # fmt: skip

    # Canvas: every institution connected to the stand-in, each account with two imports.
    standin = StandInCanvas()
    for n in range(count):
        standin.add_history(str(n + 1), 2, start_id=(n + 1) * 10)
    token = standin.issue_token()
    server = make_server("127.0.0.1", 0, standin.wsgi(), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_port}"
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        for n, tenant_id in enumerate(ids):
            connections.connect(
                db.session.get(Tenant, tenant_id),
                base_url=base_url,
                account_id=str(n + 1),
                method="token",
                access_token=token,
                connected_by="bench",
            )
        owner = worker.worker_name()
        for label in ("first pass (reads each history)", "idle pass"):
            db.session.execute(update(CanvasConnection).values(next_poll_at=utcnow()))
            db.session.commit()
            started = time.perf_counter()
            polled = len(worker.poll_all(owner))
            seconds = time.perf_counter() - started
            assert polled == count, polled
            rows.append(
                Row(name, f"one worker's Canvas polls, {label}", polled / seconds, "polls/s",
                    None, "", "report", None)
            )  # fmt: skip
        idle_rate = rows[-1].value

        # Two worker processes share the connections for one pass.
        db.session.execute(update(CanvasConnection).values(next_poll_at=utcnow()))
        db.session.commit()
        before = len(standin.requests)
        env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": url}
        started = time.perf_counter()
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "canvas", "poll"],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )
            for _ in range(2)
        ]  # fmt: skip
        outputs = [w.communicate(timeout=1800)[0] for w in workers]
        seconds = time.perf_counter() - started
        polled = [int(re.search(r"Polled (\d+) connection", o).group(1)) for o in outputs]
        accounts = [
            path.split("/")[4] for path, _ in standin.requests[before:] if path.endswith("s")
        ]
        once = len(accounts) == count and len(set(accounts)) == count
        rows.append(
            Row(name, f"two workers, one pass: {polled[0]:,} + {polled[1]:,} connections, "
                f"{len(set(accounts)):,} accounts asked", sum(polled) / seconds, "polls/s",
                None, "", "each once", once)
        )  # fmt: skip
        db.engine.dispose()
    server.shutdown()
    workers_needed = count / (idle_rate * 60)
    rows.append(
        Row(name, f"workers for {count:,} institutions at a 60 s poll (idle)", workers_needed,
            "workers", None, "", "report", None)
    )  # fmt: skip
    return rows


def _recreate(url: str) -> None:
    """A fresh PostgreSQL database at ``url``."""
    from sqlalchemy import create_engine, text

    server, database = url.rsplit("/", 1)
    engine = create_engine(server + "/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    engine.dispose()

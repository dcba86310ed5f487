#!/usr/bin/env python3
"""Scale benchmark (`make bench`): a million jobs, pages, the CSV, launches; SQLite and
PostgreSQL side by side.

For each database it builds a fresh schema with the migrations, generates the jobs through the
job store's bulk path (rows identical to the service's; one generator process per core), and
measures:

* the Rostering page (25 rows, the full render; server time: the app called in-process, from
  the WSGI call to the body's close) at page 1 and at the last page of the 100,000-job
  institution, against the raw SQL of that page, and the middle page typed into the URL;
* at the 1,000,000-job institution: page 1 with the sync health section, a filtered page
  (Failed, the last 30 days) with its count, and the live-status check of the 25 rows shown
  (these six in-process measures sampled together, in five interleaved rounds);
* the CSV of a 1,000,000-job institution downloaded over HTTP from gunicorn (median of 3),
  against the database's own command-line CSV dump of the same columns of the same rows as
  they are stored, with the server worker's memory sampled throughout;
* a full launch (OIDC login, launch with RS256 verification against a cached JWKS, first page)
  against a bare PyJWT RS256 decode of the same kind of token plus the page render alone;
  launches per second with 4 gunicorn workers;
* past jobs sent through the agent API's import (1,000 a request) to 4 gunicorn workers.

It prints one table: measured, reference, ratio, target, pass/fail.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import jwt
import requests
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lti_app import create_app  # noqa: E402
from lti_app.api import tokens  # noqa: E402
from lti_app.canvas import connections, worker  # noqa: E402
from lti_app.devcanvas import StandInCanvas  # noqa: E402
from lti_app.extensions import db  # noqa: E402
from lti_app.lti import registry  # noqa: E402
from lti_app.lti.models import Tenant  # noqa: E402
from lti_app.rostering import service  # noqa: E402
from lti_app.rostering.models import JobStatus, Trigger  # noqa: E402
from lti_app.timeutil import utcnow  # noqa: E402
from scripts.serverctl import start_gunicorn, stop  # noqa: E402
from tests.support.launcher import Launcher, https_client, platform_spec  # noqa: E402
from tests.support.platform import TestPlatform  # noqa: E402

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/"
# What the download holds, column for column, as the database stores it: the reference dump.
REFERENCE_CSV = (
    'SELECT public_id, external_id, type, posted_by, "trigger", sis_type, updated_at, '
    "created_at, stage, status FROM rostering_job WHERE tenant_id = {tenant} "
    "ORDER BY updated_at DESC, id DESC"
)


@dataclass
class Row:
    database: str
    measure: str
    value: float
    unit: str
    reference: float | None
    reference_name: str
    target: str
    passed: bool | None

    @property
    def ratio(self) -> str:
        return f"{self.value / self.reference:.2f}" if self.reference else "—"


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


class ServerClock:
    """Server time of in-process requests: from the WSGI call to the body's last byte and its
    close (the teardown included), around the app itself. The test client's own work, building
    the request and reading the answer, is not counted."""

    def __init__(self, app: Flask) -> None:
        self.inner = app.wsgi_app
        self.last_ms = 0.0
        app.wsgi_app = self  # type: ignore[method-assign]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        started = time.perf_counter()
        body = self.inner(environ, start_response)
        try:
            chunks = list(body)
        finally:
            getattr(body, "close", lambda: None)()
        self.last_ms = (time.perf_counter() - started) * 1000
        return chunks

    def median_ms(self, request: Callable[[], TestResponse], repeat: int) -> float:
        """The median server time of ``repeat`` requests, each of which must succeed."""
        return self.medians({"one": (request, repeat)}, rounds=1)["one"]

    def medians(
        self, requests: dict[str, tuple[Callable[[], TestResponse], int]], rounds: int
    ) -> dict[str, float]:
        """The median server time of each request, sampled in ``rounds`` interleaved rounds
        (each round takes its share of every request's samples in turn), so that a slow spell
        of this shared machine weighs on every measure alike rather than on whichever one
        happened to be running."""
        times: dict[str, list[float]] = {name: [] for name in requests}
        for _ in range(rounds):
            for name, (request, repeat) in requests.items():
                for _ in range(-(-repeat // rounds)):
                    response = request()
                    assert response.status_code == 200, (name, response.status_code)
                    times[name].append(self.last_ms)
        return {name: statistics.median(samples) for name, samples in times.items()}


def jobs(anchor: datetime, seed: int, numbers: range) -> Iterator[service.NewJob]:
    """A realistic history: an hourly sync each, mostly completed, some warnings, failures.
    Job ``n`` ran ``n`` hours after ``anchor``, so slices of one history can be made apart."""
    statuses = (JobStatus.COMPLETED,) * 16 + (JobStatus.WARNING,) * 3 + (JobStatus.FAILED,)
    for n in numbers:
        status = statuses[(n * 7 + seed) % len(statuses)]
        when = anchor + timedelta(hours=n, seconds=(n * 37 + seed) % 600)
        yield service.NewJob(
            external_id=f"sync-{seed}-{n:07d}",
            posted_by="Canvas Integrations Admin" if n % 9 else "Jordan Rivera",
            trigger=Trigger.SCHEDULED if n % 9 else Trigger.MANUAL,
            sis_type="OneRoster",
            status=status,
            stage="Data Conversion" if status is JobStatus.FAILED else "",
            created_at=when,
            updated_at=when + timedelta(minutes=9),
        )


@dataclass(frozen=True)
class Slice:
    """Part of one institution's history, stored by one generator process."""

    tenant_id: int
    seed: int
    anchor: datetime
    numbers: range


def store_slice(url: str, part: Slice) -> int:
    """In a generator process: store a slice through the bulk path."""
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        stored = service.insert_jobs(part.tenant_id, jobs(part.anchor, part.seed, part.numbers))
        db.engine.dispose()
    return stored


def generate(url: str, histories: list[tuple[int, int, int]], slice_size: int = 100_000) -> int:
    """Store each (tenant, seed, count) history in slices, one process per core."""
    parts = []
    for tenant_id, seed, count in histories:
        anchor = utcnow() - timedelta(hours=count)
        for start in range(0, count, slice_size):
            numbers = range(start, min(count, start + slice_size))
            parts.append(Slice(tenant_id, seed, anchor, numbers))
    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return sum(pool.map(store_slice, [url] * len(parts), parts))


def settle() -> None:
    """Make a history just loaded look like one loaded long ago: what autovacuum does to a
    freshly loaded table (statistics, visibility map) and the checkpoint that writes the load
    out are done before measuring, rather than left to run in the background during it."""
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if db.engine.dialect.name == "postgresql":
            connection.execute(text("VACUUM ANALYZE"))
            connection.execute(text("CHECKPOINT"))
        else:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


def bench_database(
    name: str, url: str, args: argparse.Namespace, platform: TestPlatform
) -> list[Row]:
    rows: list[Row] = []
    app = create_app(
        {"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "LAUNCH_TOKEN_TTL": 3600}
    )
    logging.getLogger("lti_app").setLevel(logging.WARNING)
    with app.app_context():
        import flask_migrate

        flask_migrate.upgrade()
        spec = platform_spec(platform)
        deployments = [f"dep-{n}" for n in range(args.tenants)] + ["dep-csv", "dep-import"]
        for deployment in deployments:
            registry.register(spec, [deployment], f"Institution {deployment}")
        tenants = {
            t.deployment_id: t.id
            for t in registry.find_platform(platform.issuer, platform.client_id).tenants
        }
        db.session.commit()
        started = time.perf_counter()
        stored = generate(
            url,
            [(tenants[f"dep-{n}"], n, args.jobs_per_tenant) for n in range(args.tenants)],
        )
        generated = time.perf_counter() - started
        generate(url, [(tenants["dep-csv"], 99, args.csv_rows)])
        rows.append(
            Row(
                name,
                f"generate {args.tenants} × {args.jobs_per_tenant:,} jobs, {os.cpu_count()} procs",
                stored / generated,
                "rows/s",
                None,
                "",
                "1M rows in ≤ 40 s",
                1_000_000 / (stored / generated) <= 40,
            )
        )
        settle()

    # --- the Rostering page ------------------------------------------------------------
    clock = ServerClock(app)
    client = https_client(app)
    launcher = Launcher(client, platform)
    token = launcher.admin_token("dep-0")
    pages = -(-args.jobs_per_tenant // 25)
    million = launcher.admin_token("dep-csv")  # the test platform's admin: America/Denver
    today = utcnow().astimezone(ZoneInfo("America/Denver")).date()
    last_30 = {
        "launch_token": million,
        "status": "failed",
        "from": (today - timedelta(days=29)).isoformat(),
        "to": today.isoformat(),
    }
    filtered_page = client.get("/rostering/", query_string=last_30).get_data(as_text=True)
    assert "filtered" in filtered_page, "the filtered page did not filter"
    first_page = client.get("/rostering/", query_string={"launch_token": million}).get_data(
        as_text=True
    )
    shown = re.findall(r'data-job-id="([0-9a-f]+)" data-status="(\w+)"', first_page)
    live_query = [("launch_token", million), ("pending", "0")]
    for public_id, status in shown:
        live_query += [("job", public_id), ("seen", status)]

    def page(query: dict[str, Any]) -> Callable[[], TestResponse]:
        return lambda: client.get("/rostering/", query_string=query)

    measured = clock.medians(
        {
            "page 1": (page({"launch_token": token}), args.repeat),
            "last": (page({"launch_token": token, "page": pages}), args.repeat),
            # A page typed into the URL, as far from both ends as can be: no row position to
            # seek from.
            "middle": (page({"launch_token": token, "page": pages // 2}), args.repeat),
            # Sync health, a filtered page and the live check, at a million jobs.
            "million": (page({"launch_token": million}), args.repeat),
            "filtered": (page(last_30), args.repeat),
            "live": (
                lambda: client.get("/rostering/live", query_string=live_query),
                args.repeat * 10,
            ),
        },
        rounds=5,
    )
    page_1, last, middle = measured["page 1"], measured["last"], measured["middle"]
    page_million, filtered, live = measured["million"], measured["filtered"], measured["live"]
    engine = create_engine(url)
    tenant_0 = tenants["dep-0"]
    with engine.connect() as connection:
        page_sql = text(
            "SELECT * FROM rostering_job WHERE tenant_id = :t "
            "ORDER BY updated_at DESC, id DESC LIMIT 25"
        )
        raw = median_ms(lambda: connection.execute(page_sql, {"t": tenant_0}).all(), args.repeat)
    rows.append(
        Row(
            name,
            "page 1 (25 rows, full render)",
            page_1,
            "ms",
            raw,
            "raw SQL",
            "≤ 10 ms",
            page_1 <= 10,
        )
    )
    rows.append(
        Row(
            name,
            f"last page ({pages:,})",
            last,
            "ms",
            page_1,
            "page 1",
            "≤ 1.5 × page 1",
            last <= 1.5 * page_1,
        )
    )
    rows.append(
        Row(
            name,
            f"middle page ({pages // 2:,}), typed in",
            middle,
            "ms",
            page_1,
            "page 1",
            "report",
            None,
        )
    )

    rows += [
        Row(name, f"page 1 with sync health, {args.csv_rows:,} jobs", page_million, "ms",
            page_1, "page 1 of 100k", "≤ 10 ms", page_million <= 10),
        Row(name, "filtered page: Failed, last 30 days, count", filtered, "ms",
            page_million, "unfiltered", "≤ 10 ms", filtered <= 10),
        Row(name, f"live-status check ({len(shown)} rows)", live, "ms",
            None, "", "≤ 2 ms", live <= 2),
    ]  # fmt: skip

    # --- a full launch against a bare decode -------------------------------------------------
    def full_launch_ms() -> float:
        """Server time of a launch; the platform signing its id_token is not counted."""
        started = time.perf_counter()
        login = launcher.login("dep-0")
        logged_in = time.perf_counter()
        id_token = platform.sign(platform.claims(nonce=login.nonce, deployment_id="dep-0"))
        resumed = time.perf_counter()
        client.get(launcher.post(id_token, login.state).location)
        return (logged_in - started + time.perf_counter() - resumed) * 1000

    launch_ms = statistics.median(full_launch_ms() for _ in range(args.repeat))
    public = platform.key.private.public_key()
    sample = platform.sign(platform.claims(nonce="n", deployment_id="dep-0"))

    def bare() -> None:
        jwt.decode(sample, public, algorithms=["RS256"], audience=platform.client_id)
        client.get("/rostering/", query_string={"launch_token": token})

    bare_ms = median_ms(bare, args.repeat)
    rows.append(
        Row(
            name,
            "launch: login + launch + page",
            launch_ms,
            "ms",
            bare_ms,
            "PyJWT decode + page",
            "≤ 5 ×",
            launch_ms <= 5 * bare_ms,
        )
    )

    # --- over HTTP: the CSV and launches per second ------------------------------------------
    env = {
        **os.environ,
        "APP_ENV": "production",
        "SECRET_KEY": app.config["SECRET_KEY"],
        "CANVAS_TOKEN_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": url,
        "LOG_FORMAT": "json",
        "TRUSTED_PROXIES": "0",
    }
    server = start_gunicorn(env, args.port, 1, f"bench-{name}-csv.log")
    try:
        base = f"http://127.0.0.1:{args.port}"
        csv_token = http_launch(base, platform, "dep-csv")
        worker = worker_pid(server.pid)
        before = rss_mb(worker)
        peak = [before]
        sampling = threading.Event()

        def sample_memory() -> None:
            while not sampling.is_set():
                peak[0] = max(peak[0], rss_mb(worker))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample_memory)
        sampler.start()
        downloads = []
        for _ in range(3):
            started = time.perf_counter()
            size = 0
            with requests.get(
                f"{base}/rostering/jobs.csv",
                params={"launch_token": csv_token},
                stream=True,
                timeout=600,
            ) as response:
                for chunk in response.iter_content(1 << 16):
                    size += len(chunk)
            downloads.append(time.perf_counter() - started)
        download = statistics.median(downloads)
        sampling.set()
        sampler.join()
        failed_downloads = []
        for _ in range(3):
            started = time.perf_counter()
            with requests.get(
                f"{base}/rostering/jobs.csv",
                params={"launch_token": csv_token, "status": "failed"},
                stream=True,
                timeout=600,
            ) as response:
                failed_size = sum(len(c) for c in response.iter_content(1 << 16))
            failed_downloads.append(time.perf_counter() - started)
        failed_download = statistics.median(failed_downloads)
    finally:
        stop(server)
    with app.app_context():
        reference = dump_reference(url, REFERENCE_CSV.format(tenant=tenants["dep-csv"]))
        failed_reference = dump_reference(
            url,
            REFERENCE_CSV.format(tenant=tenants["dep-csv"]).replace(
                "ORDER BY", "AND status = 'failed' ORDER BY"
            ),
        )
    rows.append(
        Row(
            name,
            f"CSV filtered to Failed over HTTP ({failed_size / 1e6:.1f} MB)",
            failed_download,
            "s",
            failed_reference,
            "sqlite3 -csv" if "sqlite" in url else "psql \\copy",
            "≤ 2 ×",
            failed_download <= 2 * failed_reference,
        )
    )
    rows.append(
        Row(
            name,
            f"CSV {args.csv_rows:,} rows over HTTP ({size / 1e6:.0f} MB)",
            download,
            "s",
            reference,
            "sqlite3 -csv" if "sqlite" in url else "psql \\copy",
            "≤ 2 ×",
            download <= 2 * reference,
        )
    )
    rows.append(
        Row(
            name,
            "CSV server memory growth",
            peak[0] - before,
            "MB",
            None,
            "",
            "< 50 MB",
            peak[0] - before < 50,
        )
    )

    with app.app_context():
        _, api_token = tokens.create(db.session.get(Tenant, tenants["dep-import"]), "bench")
    server = start_gunicorn(env, args.port, 4, f"bench-{name}-launch.log")
    try:
        base = f"http://127.0.0.1:{args.port}"
        rate = launches_per_second(base, platform, args.seconds)
        imported = import_per_second(base, api_token, args.import_jobs)
    finally:
        stop(server)
    rows.append(Row(name, "launches/s, 4 workers", rate, "/s", None, "", "report", None))
    rows.append(
        Row(
            name,
            f"API import of {args.import_jobs:,} past jobs, 1 client",
            imported,
            "jobs/s",
            None,
            "",
            "report",
            None,
        )
    )
    with app.app_context():
        db.engine.dispose()
    engine.dispose()
    return rows


def http_launch(
    base: str, platform: TestPlatform, deployment: str, session: requests.Session | None = None
) -> str:
    """A launch over HTTP; returns the launch token."""
    session = session or requests.Session()
    login = session.get(
        f"{base}/lti/login",
        params={
            "iss": platform.issuer,
            "login_hint": "admin",
            "client_id": platform.client_id,
            "lti_deployment_id": deployment,
            "target_link_uri": base + "/lti/launch",
        },
        headers={"Sec-Fetch-Dest": "document"},
        allow_redirects=False,
        timeout=30,
    )
    query = parse_qs(urlsplit(login.headers["Location"]).query)
    state, nonce = query["state"][0], query["nonce"][0]
    id_token = platform.sign(platform.claims(nonce=nonce, deployment_id=deployment))
    launched = session.post(
        f"{base}/lti/launch",
        data={"id_token": id_token, "state": state},
        headers={"Cookie": f"lti1p3-{state}={state}"},
        allow_redirects=False,
        timeout=30,
    )
    location = launched.headers["Location"]
    session.get(base + location, timeout=30)
    return parse_qs(urlsplit(location).query)["launch_token"][0]


def launches_per_second(base: str, platform: TestPlatform, seconds: float) -> float:
    done = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        with requests.Session() as session:
            session.trust_env = False  # no proxy lookup in the environment on every request
            while time.monotonic() < deadline:
                http_launch(base, platform, "dep-0", session)
                with lock:
                    done[0] += 1

    threads = [threading.Thread(target=client) for _ in range(8)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0] / (time.monotonic() - started)


def import_per_second(base: str, api_token: str, count: int) -> float:
    """Past jobs sent through the agent API's import, 1,000 a request, one after another."""
    anchor = utcnow() - timedelta(hours=count)
    started = time.perf_counter()
    with requests.Session() as session:
        session.trust_env = False
        for first in range(0, count, 1000):
            body = {
                "jobs": [
                    {
                        "external_id": f"import-{n:07d}",
                        "sis_type": "OneRoster",
                        "status": "completed",
                        "created_at": (anchor + timedelta(hours=n)).isoformat(),
                        "updated_at": (anchor + timedelta(hours=n, minutes=9)).isoformat(),
                    }
                    for n in range(first, min(count, first + 1000))
                ]
            }
            response = session.post(
                f"{base}/api/v1/rostering_jobs/import",
                json=body,
                headers={"Authorization": f"Bearer {api_token}"},
                timeout=120,
            )
            response.raise_for_status()
    return count / (time.perf_counter() - started)


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def dump_reference(url: str, query: str) -> float:
    """Seconds the database's own command-line client needs to dump the same query as CSV."""
    if url.startswith("sqlite"):
        command = ["sqlite3", "-csv", url.removeprefix("sqlite:///"), query]
    else:
        database = url.rsplit("/", 1)[1]
        command = [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            f"\\copy ({query}) TO STDOUT WITH CSV",
        ]
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_canvas(
    name: str, url: str, args: argparse.Namespace, platform: TestPlatform
) -> list[Row]:
    """The Canvas mirror: the first sync of a long SIS import history from the stand-in Canvas
    over HTTP, an idle poll, and the Rostering page of the institution it filled."""
    app = create_app(
        {"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "CANVAS_BACKOFF_SECONDS": 0.01}
    )
    standin = StandInCanvas()
    standin.add_history("1", args.canvas_imports)
    server = make_server("127.0.0.1", 0, standin.wsgi(), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_port}"
    rows: list[Row] = []
    with app.app_context():
        import flask_migrate

        flask_migrate.upgrade()
        registry.register(platform_spec(platform), ["dep-canvas"], "Canvas-mirrored College")
        tenant = registry.find_tenant(platform.issuer, platform.client_id, "dep-canvas")
        connections.connect(
            tenant,
            base_url=base_url,
            account_id="1",
            method="token",
            access_token=standin.issue_token(),
            connected_by="bench",
        )
        owner = worker.worker_name()
        started = time.perf_counter()
        worker.poll_all(owner)
        first_sync = time.perf_counter() - started
        stored = service.job_count(tenant.id)
        assert stored == args.canvas_imports, stored
        settle()
        rows.append(
            Row(
                name,
                f"Canvas first sync, {args.canvas_imports:,} imports",
                first_sync,
                "s",
                None,
                "",
                "report",
                None,
            )
        )
        rows.append(
            Row(
                name,
                "Canvas first sync rate",
                stored / first_sync,
                "rows/s",
                None,
                "",
                "report",
                None,
            )
        )
        before = len(standin.requests)
        idle = median_ms(lambda: worker.poll_all(owner), 5)
        rows.append(
            Row(
                name,
                f"Canvas idle poll ({(len(standin.requests) - before) / 5:.0f} request)",
                idle,
                "ms",
                None,
                "",
                "1 request",
                len(standin.requests) - before == 5,
            )
        )
    clock = ServerClock(app)
    client = https_client(app)
    token = Launcher(client, platform).admin_token("dep-canvas")
    page = clock.median_ms(
        lambda: client.get("/rostering/", query_string={"launch_token": token}), args.repeat
    )
    rows.append(
        Row(
            name,
            f"page 1 of {args.canvas_imports:,} mirrored imports",
            page,
            "ms",
            None,
            "",
            "≤ 10 ms",
            page <= 10,
        )
    )
    server.shutdown()
    with app.app_context():
        db.engine.dispose()
    return rows


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'database':<11}{'measure':<44}{'measured':>14}{'reference':>32}{'ratio':>7}  "
        f"{'target':<24}result"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for row in rows:
        value = (
            f"{row.value:,.1f} {row.unit}" if row.value < 10_000 else f"{row.value:,.0f} {row.unit}"
        )
        reference = f"{row.reference:,.2f} ({row.reference_name})" if row.reference else ""
        result = {True: "pass", False: "FAIL", None: ""}[row.passed]
        print(
            f"{row.database:<11}{row.measure:<44}{value:>14}{reference:>32}{row.ratio:>7}  "
            f"{row.target:<24}{result}"
        )


def _fresh(name: str, workdir: Path, label: str) -> str:
    """An empty database of the kind named, for one part of the bench."""
    if name == "sqlite":
        return f"sqlite:///{workdir / f'{label}.db'}"
    database = f"sis_integration_{label}"
    admin = create_engine(PG + "postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {database}"))
    admin.dispose()
    return PG + database


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
    parser.add_argument("--alert-institutions", type=int, default=1000)
    parser.add_argument("--alert-samples", type=int, default=40, help="PATCH-to-mail latencies")
    args = parser.parse_args()
    from scripts.bench_alerts import bench_alerts  # they build on this module's helpers
    from scripts.bench_error_rows import bench_error_rows

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    platform = TestPlatform().start()
    workdir = Path(tempfile.mkdtemp(prefix="sis-bench-"))
    rows: list[Row] = []
    try:
        for name in args.databases.split(","):
            print(f"{name}: generating and measuring ...", flush=True)
            only = [args.canvas_only, args.alerts_only, args.error_rows_only]
            if not any(only):
                rows += bench_database(name, _fresh(name, workdir, "bench"), args, platform)
            if args.canvas_only or not any(only):
                rows += bench_canvas(name, _fresh(name, workdir, "canvas"), args, platform)
            if args.alerts_only or not any(only):
                rows += bench_alerts(name, _fresh(name, workdir, "alerts"), args, platform)
            if args.error_rows_only or not any(only):
                rows += bench_error_rows(name, _fresh(name, workdir, "rows"), args, platform)
    finally:
        platform.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print_table(rows)
    return 0 if all(row.passed is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The Rostering Jobs list, the CSV and launches in `make bench` (the first part of it):

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
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import jwt
import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from werkzeug.test import TestResponse

from lti_app import create_app
from lti_app.api import tokens
from lti_app.extensions import db
from lti_app.lti import registry
from lti_app.lti.models import Tenant
from lti_app.timeutil import utcnow
from scripts.benchkit import REFERENCE_CSV, Row, ServerClock, generate, median_ms, settle
from scripts.serverctl import start_gunicorn, stop
from tests.support.launcher import Launcher, https_client, platform_spec
from tests.support.platform import TestPlatform


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

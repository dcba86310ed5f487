#!/usr/bin/env python3
"""Load and concurrency test: gunicorn (4 workers) on PostgreSQL, driven for a fixed time by
admins (paging, downloading CSVs, launching) and SIS agents (creating and updating jobs,
racing for sync requests), on loopback only. Then it checks, in the database, that every
write the tool acknowledged is there exactly once.

    make load                       # 60 s, 16 clients
    python scripts/load_test.py --seconds 20 --clients 8

Prints requests/s, p50/p95/p99 latency per kind of request, the count of 5xx answers (the goal
is 0) and the verification. Exits non-zero on any 5xx or any lost or duplicated write.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import secrets
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.serverctl import start_gunicorn, stop  # noqa: E402
from tests.support.platform import TestPlatform  # noqa: E402

BIN = Path(sys.executable).parent
STAGES = ("Roster Extract", "Data Conversion", "Canvas Import")


@dataclass
class Ledger:
    """What the tool acknowledged, to compare with the database afterwards."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    created: dict[str, str] = field(default_factory=dict)  # external_id -> job id
    open_jobs: list[str] = field(default_factory=list)  # job ids still in progress
    stages: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    finals: dict[str, str] = field(default_factory=dict)  # job id -> final status
    claims: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))

    def record(self, kind: str, started: float, response: requests.Response | None) -> None:
        with self.lock:
            if response is None:
                self.errors[kind] += 1
                return
            self.latencies[kind].append(time.perf_counter() - started)
            self.statuses[kind][response.status_code] += 1


def run(cmd: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


class Load:
    def __init__(
        self, base: str, platform: TestPlatform, tokens: dict[str, str], ledger: Ledger
    ) -> None:
        self.base, self.platform, self.tokens, self.ledger = base, platform, tokens, ledger
        self.admin_tokens: dict[str, str] = {}

    def call(
        self, session: requests.Session, kind: str, method: str, path: str, **kwargs: object
    ) -> requests.Response | None:
        started = time.perf_counter()
        try:
            response = session.request(
                method, self.base + path, timeout=30, allow_redirects=False, **kwargs
            )  # type: ignore[arg-type]
            response.content  # noqa: B018  (read the whole body, CSVs included)
        except requests.RequestException:
            response = None
        self.ledger.record(kind, started, response)
        return response

    # --- admins ---------------------------------------------------------------------------

    def launch(self, session: requests.Session, deployment: str) -> str | None:
        """A full OIDC login + signed launch; returns the launch token."""
        login = self.call(
            session,
            "launch",
            "GET",
            "/lti/login",
            params={
                "iss": self.platform.issuer,
                "login_hint": "admin",
                "client_id": self.platform.client_id,
                "lti_deployment_id": deployment,
                "target_link_uri": self.base + "/lti/launch",
            },
            headers={"Sec-Fetch-Dest": "document"},
        )
        if login is None or login.status_code != 302:
            return None
        query = parse_qs(urlsplit(login.headers["Location"]).query)
        state, nonce = query["state"][0], query["nonce"][0]
        claims = self.platform.claims(
            nonce=nonce, deployment_id=deployment, name=f"Admin {deployment}"
        )
        # The state cookie is Secure; send it by hand over loopback http.
        launched = self.call(
            session,
            "launch",
            "POST",
            "/lti/launch",
            data={"id_token": self.platform.sign(claims), "state": state},
            headers={"Cookie": f"lti1p3-{state}={state}"},
        )
        if launched is None or launched.status_code != 303:
            return None
        return parse_qs(urlsplit(launched.headers["Location"]).query)["launch_token"][0]

    def admin_token(self, session: requests.Session, deployment: str) -> str | None:
        token = self.admin_tokens.get(deployment)
        if token is None:
            token = self.launch(session, deployment)
            if token:
                self.admin_tokens[deployment] = token
        return token

    def page(self, session: requests.Session, rng: random.Random) -> None:
        token = self.admin_token(session, "dep-a")
        if token:
            self.call(
                session,
                "page",
                "GET",
                "/rostering/",
                params={"launch_token": token, "page": rng.randint(1, 12)},
            )

    def csv(self, session: requests.Session, rng: random.Random) -> None:
        token = self.admin_token(session, rng.choice(["dep-a", "dep-b"]))
        if token:
            self.call(session, "csv", "GET", "/rostering/jobs.csv", params={"launch_token": token})

    # --- agents ---------------------------------------------------------------------------

    def create(self, session: requests.Session, rng: random.Random) -> None:
        body = {
            "external_id": f"load-{uuid.uuid4().hex}",
            "sis_type": "OneRoster",
            "stage": "Queued",
        }
        headers = {"Authorization": f"Bearer {self.tokens['dep-a']}"}
        for attempt in range(2 if rng.random() < 0.2 else 1):  # some agents retry
            kind = "agent create" if attempt == 0 else "agent retry"
            response = self.call(
                session, kind, "POST", "/api/v1/rostering_jobs", json=body, headers=headers
            )
            if response is not None and response.status_code in (200, 201):
                job_id = response.json()["id"]
                with self.ledger.lock:
                    if body["external_id"] in self.ledger.created:
                        assert self.ledger.created[body["external_id"]] == job_id
                    else:
                        self.ledger.created[body["external_id"]] = job_id
                        self.ledger.stages[job_id].append("Queued")
                        self.ledger.open_jobs.append(job_id)

    def update(self, session: requests.Session, rng: random.Random) -> None:
        with self.ledger.lock:
            if not self.ledger.open_jobs:
                return
            # Take the job out while we work on it: one agent per job, as in life.
            job_id = self.ledger.open_jobs.pop(rng.randrange(len(self.ledger.open_jobs)))
            done = self.ledger.stages[job_id]
        headers = {"Authorization": f"Bearer {self.tokens['dep-a']}"}
        if len(done) <= len(STAGES):
            change = {"stage": STAGES[len(done) - 1]}
        else:
            change = {"status": rng.choice(["completed", "warning", "failed"])}
            if change["status"] == "completed":
                change["stage"] = ""
        response = self.call(
            session,
            "agent update",
            "PATCH",
            f"/api/v1/rostering_jobs/{job_id}",
            json=change,
            headers=headers,
        )
        with self.ledger.lock:
            if response is not None and response.status_code == 200:
                if "status" in change:
                    self.ledger.finals[job_id] = change["status"]
                    return
                done.append(change["stage"])
            self.ledger.open_jobs.append(job_id)

    def sync_race(self, session: requests.Session, rng: random.Random) -> None:
        token = self.admin_token(session, "dep-b")
        if not token:
            return
        self.call(
            session, "sync now", "POST", "/rostering/sync_requests", data={"launch_token": token}
        )
        headers = {"Authorization": f"Bearer {self.tokens['dep-b']}"}
        listed = self.call(
            session,
            "agent poll",
            "GET",
            "/api/v1/sync_requests",
            params={"status": "pending"},
            headers=headers,
        )
        if listed is None or listed.status_code != 200 or not listed.json()["data"]:
            return
        request_id = listed.json()["data"][0]["id"]
        barrier = threading.Barrier(3)

        def claim(agent: str) -> None:
            with requests.Session() as own:
                barrier.wait()
                response = self.call(
                    own,
                    "agent claim",
                    "POST",
                    f"/api/v1/sync_requests/{request_id}/claim",
                    json={"agent": agent},
                    headers=headers,
                )
            if response is not None and response.status_code == 200:
                with self.ledger.lock:
                    self.ledger.claims[request_id].append(agent)

        racers = [
            threading.Thread(target=claim, args=(f"agent-{uuid.uuid4().hex[:6]}",))
            for _ in range(3)
        ]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()


def client_loop(load: Load, deadline: float, seed: int) -> None:
    rng = random.Random(seed)
    scenarios = [
        (load.page, 30),
        (load.csv, 4),
        (lambda s, r: load.launch(s, "dep-a"), 8),
        (load.create, 28),
        (load.update, 25),
        (load.sync_race, 5),
    ]
    actions, weights = zip(*scenarios, strict=True)
    with requests.Session() as session:
        while time.monotonic() < deadline:
            rng.choices(actions, weights)[0](session, rng)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def report(ledger: Ledger, seconds: float) -> int:
    total = sum(len(v) for v in ledger.latencies.values())
    server_errors = sum(n for s in ledger.statuses.values() for c, n in s.items() if c >= 500)
    print(
        f"\n{'request':<14}{'count':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"  statuses"
    )
    every: list[float] = []
    for kind in sorted(ledger.latencies):
        values = ledger.latencies[kind]
        every += values
        codes = " ".join(f"{c}:{n}" for c, n in sorted(ledger.statuses[kind].items()))
        print(
            f"{kind:<14}{len(values):>8}{len(values) / seconds:>9.1f}"
            f"{percentile(values, 0.5):>9.1f}{percentile(values, 0.95):>9.1f}"
            f"{percentile(values, 0.99):>9.1f}  {codes}"
        )
    print(
        f"{'all':<14}{total:>8}{total / seconds:>9.1f}{percentile(every, 0.5):>9.1f}"
        f"{percentile(every, 0.95):>9.1f}{percentile(every, 0.99):>9.1f}"
    )
    print(f"\n5xx answers: {server_errors}   connection errors: {sum(ledger.errors.values())}")
    print(f"mean latency: {statistics.mean(every) * 1000:.1f} ms over {seconds:.0f} s")
    return server_errors


def verify(ledger: Ledger, database_url: str) -> list[str]:
    """Every acknowledged write is in the database exactly once."""
    problems = []
    engine = create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT external_id, public_id, stage_history, status FROM rostering_job "
                "WHERE external_id LIKE 'load-%'"
            )
        ).all()
        duplicates = connection.execute(
            text(
                "SELECT external_id FROM rostering_job GROUP BY tenant_id, external_id "
                "HAVING count(*) > 1"
            )
        ).all()
        claims = dict(
            connection.execute(
                text("SELECT id, claimed_by FROM sync_request WHERE status = 'claimed'")
            ).all()
        )
    engine.dispose()
    stored = {row.external_id: row for row in rows}
    missing = set(ledger.created) - set(stored)
    if missing:
        problems.append(f"{len(missing)} acknowledged jobs are missing")
    if duplicates:
        problems.append(f"{len(duplicates)} external ids are stored more than once")
    for external_id, job_id in ledger.created.items():
        row = stored.get(external_id)
        if row is None:
            continue
        history = [step["stage"] for step in row.stage_history]
        if row.public_id != job_id:
            problems.append(f"{external_id}: acknowledged as {job_id}, stored as {row.public_id}")
        if history != ledger.stages[job_id]:
            problems.append(
                f"{external_id}: stages {history} != acknowledged {ledger.stages[job_id]}"
            )
        final = ledger.finals.get(job_id)
        if final and row.status != final:
            problems.append(f"{external_id}: status {row.status} != acknowledged {final}")
    for request_id, winners in ledger.claims.items():
        if len(winners) != 1:
            problems.append(f"sync request {request_id} was claimed by {winners}")
        elif claims.get(request_id) != winners[0]:
            problems.append(f"sync request {request_id}: stored claimant {claims.get(request_id)}")
    print(
        f"\nverified: {len(ledger.created)} acknowledged jobs, "
        f"{sum(len(s) for s in ledger.stages.values())} acknowledged stages, "
        f"{len(ledger.finals)} final statuses, {len(ledger.claims)} raced sync requests "
        f"({sum(len(w) for w in ledger.claims.values())} winning claims)"
    )
    print(
        "every acknowledged write is stored exactly once"
        if not problems
        else "PROBLEMS:\n  " + "\n  ".join(problems[:20])
    )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--database",
        default="sis_integration_load",
        help="a PostgreSQL database on 127.0.0.1:5432, created afresh",
    )
    args = parser.parse_args()

    admin = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {args.database}"))
    admin.dispose()
    database_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{args.database}"
    env = {
        **os.environ,
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "CANVAS_TOKEN_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": database_url,
        "LOG_FORMAT": "json",
        "TRUSTED_PROXIES": "0",
    }
    flask = [str(BIN / "flask"), "--app", "wsgi"]
    run([*flask, "db", "upgrade"], env)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the platform's request lines
    platform = TestPlatform().start()
    base = f"http://127.0.0.1:{args.port}"
    platform.tool_url = base
    tokens = {}
    for deployment in ("dep-a", "dep-b"):
        run(
            [
                *flask,
                "lti",
                "register",
                "--issuer",
                platform.issuer,
                "--client-id",
                platform.client_id,
                "--auth-login-url",
                platform.base_url + "/auth",
                "--auth-token-url",
                platform.base_url + "/token",
                "--key-set-url",
                platform.base_url + "/jwks",
                "--deployment-id",
                deployment,
                "--name",
                f"Institution {deployment}",
            ],
            env,
        )
        tokens[deployment] = run(
            [
                *flask,
                "api-token",
                "create",
                "--issuer",
                platform.issuer,
                "--client-id",
                platform.client_id,
                "--deployment-id",
                deployment,
                "--name",
                "load agent",
            ],
            env,
        ).strip()

    server = start_gunicorn(env, args.port, args.workers, "load-gunicorn.log")
    try:
        ledger = Ledger()
        load = Load(base, platform, tokens, ledger)
        with requests.Session() as session:  # some history for the pages and the CSVs
            for _ in range(300):
                load.create(session, random.Random(0))
        ledger.latencies.clear()
        ledger.statuses.clear()
        print(
            f"gunicorn: {args.workers} workers on PostgreSQL; {args.clients} clients "
            f"for {args.seconds:.0f} s ..."
        )
        started = time.monotonic()
        deadline = started + args.seconds
        clients = [
            threading.Thread(target=client_loop, args=(load, deadline, n))
            for n in range(args.clients)
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        elapsed = time.monotonic() - started
    finally:
        stop(server)
        platform.stop()
    server_errors = report(ledger, elapsed)
    problems = verify(ledger, database_url)
    return 1 if server_errors or problems else 0


if __name__ == "__main__":
    sys.exit(main())

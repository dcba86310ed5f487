"""What the bench's parts share (``scripts/bench.py`` runs them): a row of the result table and
its printing, server time of in-process requests, a realistic job history and its generation
through the job store's bulk path (a process per core), a fresh database of each kind, and
settling a freshly loaded database before measuring. The parts import this; nothing here
imports a part or the runner."""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text
from werkzeug.test import TestResponse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lti_app import create_app  # noqa: E402
from lti_app.extensions import db  # noqa: E402
from lti_app.rostering import writing  # noqa: E402
from lti_app.rostering.models import JobStatus, Trigger  # noqa: E402
from lti_app.timeutil import utcnow  # noqa: E402

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


def jobs(
    anchor: datetime, seed: int, numbers: range, step: timedelta = timedelta(hours=1)
) -> Iterator[writing.NewJob]:
    """A realistic history: a sync each ``step`` (hourly), mostly completed, some warnings,
    failures. Job ``n`` ran ``n`` steps after ``anchor``, so slices of one history can be
    made apart."""
    statuses = (JobStatus.COMPLETED,) * 16 + (JobStatus.WARNING,) * 3 + (JobStatus.FAILED,)
    for n in numbers:
        status = statuses[(n * 7 + seed) % len(statuses)]
        when = anchor + step * n + timedelta(seconds=(n * 37 + seed) % 600)
        yield writing.NewJob(
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
        stored = writing.insert_jobs(part.tenant_id, jobs(part.anchor, part.seed, part.numbers))
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


def fresh(name: str, workdir: Path, label: str) -> str:
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

"""Upgrading a database that already holds history."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import flask_migrate
import pytest
from sqlalchemy import JSON, Integer, String, column, create_engine, func, select, table, text

from lti_app.extensions import UTCDateTime, db

BEFORE_CSV_LINES = "b02804597c45"


@pytest.fixture
def scratch_url(database_url: str, tmp_path) -> Iterator[str]:
    """An empty database of the kind the suite runs on."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    server, name = database_url.rsplit("/", 1)
    scratch = f"{name}_scratch"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {scratch}"))
    yield f"{server}/{scratch}"
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)"))
    admin.dispose()


OLD_JOB = table(
    "rostering_job",
    *(
        column(name, String)
        for name in (
            "public_id",
            "external_id",
            "type",
            "posted_by",
            "trigger",
            "sis_type",
            "stage",
            "status",
            "request_fingerprint",
        )
    ),
    column("change_counts", JSON),
    column("stage_history", JSON),
    column("tenant_id", Integer),
    column("created_at", UTCDateTime),
    column("updated_at", UTCDateTime),
)


def test_upgrade_renders_the_csv_line_of_every_stored_job(scratch_url, make_app, platform):
    app = make_app(SQLALCHEMY_DATABASE_URI=scratch_url)
    start = datetime(2026, 11, 20, 15, 4, 5, 250000, tzinfo=UTC)
    with app.app_context():
        flask_migrate.upgrade(revision=BEFORE_CSV_LINES)
        # The tables as that revision has them: rows written with Core, not today's models.
        platform_id = db.session.execute(
            text(
                "INSERT INTO lti_platform (issuer, client_id, auth_login_url, auth_token_url, "
                "created_at) VALUES (:iss, 'c', 'a', 't', :now) RETURNING id"
            ),
            {"iss": platform.issuer, "now": start},
        ).scalar_one()
        tenant_id = db.session.execute(
            text(
                "INSERT INTO tenant (platform_id, deployment_id, name, job_count, created_at) "
                "VALUES (:p, 'dep-a', 'Alpha College', 0, :now) RETURNING id"
            ),
            {"p": platform_id, "now": start},
        ).scalar_one()
        history = [
            {
                "public_id": f"{n:032x}",
                "tenant_id": tenant_id,
                "external_id": f"sync-{n}",
                "type": "Roster Import",
                "posted_by": '=Zoë "Z", Registrar' if n == 0 else "Canvas Integrations Admin",
                "trigger": "scheduled",
                "sis_type": "OneRoster",
                "stage": "Data Conversion" if n == 0 else "",
                "status": "failed" if n == 0 else "completed",
                "change_counts": {},
                "stage_history": [],
                "request_fingerprint": "",
                "created_at": start + timedelta(hours=n),
                "updated_at": start + timedelta(hours=n, minutes=9),
            }
            for n in range(5001)  # more than one batch of the migration
        ]
        db.session.execute(OLD_JOB.insert(), history)
        db.session.commit()

        flask_migrate.upgrade()

        lines = dict(
            db.session.execute(text("SELECT external_id, csv_line FROM rostering_job")).all()
        )
        assert len(lines) == 5001 and all(line.endswith("\r\n") for line in lines.values())
        assert next(csv.reader([lines["sync-0"]])) == [
            f"{0:032x}",
            "sync-0",
            "Roster Import",
            '\'=Zoë "Z", Registrar',
            "scheduled",
            "OneRoster",
            "2026-11-20T15:13:05Z",
            "2026-11-20T15:04:05Z",
            "Data Conversion",
            "Failed",
        ]
        assert next(csv.reader([lines["sync-5000"]]))[6:] == [
            "2027-06-16T23:13:05Z",
            "2027-06-16T23:04:05Z",
            "",
            "Completed",
        ]
        assert db.session.scalar(select(func.count()).select_from(OLD_JOB)) == 5001


def test_upgrade_counts_the_stored_history_into_the_tally(scratch_url, make_app):
    """The tally's migration counts every job already stored, exactly as writes count them."""
    from lti_app.rostering.tally import TOTAL, JobTally, bucket_of

    app = make_app(SQLALCHEMY_DATABASE_URI=scratch_url)
    start = datetime(2026, 11, 20, 15, 4, 5, 250000, tzinfo=UTC)
    with app.app_context():
        flask_migrate.upgrade(revision="07b4aa4b3364")
        platform_id = db.session.execute(
            text(
                "INSERT INTO lti_platform (issuer, client_id, auth_login_url, auth_token_url, "
                "created_at) VALUES ('https://i', 'c', 'a', 't', :now) RETURNING id"
            ),
            {"now": start},
        ).scalar_one()
        tenants = [
            db.session.execute(
                text(
                    "INSERT INTO tenant (platform_id, deployment_id, name, job_count, created_at) "
                    "VALUES (:p, :d, '', 0, :now) RETURNING id"
                ),
                {"p": platform_id, "d": f"dep-{n}", "now": start},
            ).scalar_one()
            for n in range(2)
        ]
        history = [
            {
                "public_id": f"{n:032x}",
                "tenant_id": tenants[n % 2],
                "external_id": f"sync-{n}",
                "type": "Roster Import",
                "posted_by": "x",
                "trigger": "manual" if n % 5 == 0 else "scheduled",
                "sis_type": "OneRoster",
                "stage": "",
                "status": ("completed", "failed", "warning")[n % 3],
                "change_counts": {},
                "stage_history": [],
                "request_fingerprint": "",
                "created_at": start + timedelta(minutes=7 * n),
                "updated_at": start + timedelta(minutes=7 * n + 3),
            }
            for n in range(500)
        ]
        db.session.execute(OLD_JOB.insert(), history)
        db.session.commit()

        flask_migrate.upgrade()

        expected: dict[tuple, int] = {}
        for job in history:
            for bucket in (bucket_of(job["updated_at"]), TOTAL):
                key = (job["tenant_id"], bucket, job["status"], job["trigger"])
                expected[key] = expected.get(key, 0) + 1
        stored = {
            (t.tenant_id, t.bucket, t.status, t.trigger): t.count
            for t in db.session.scalars(select(JobTally))
        }
        assert stored == expected

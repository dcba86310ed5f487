"""History kept as long as the institution says: the admin's choice in the tab, the operator's
ceiling and command, and the purge (batches, never a job In Progress, the counts and the
tally following, the worker's once a day)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from lti_app.extensions import db
from lti_app.lti.models import Tenant
from lti_app.rostering import retention, tally
from lti_app.rostering.models import JobFile, JobMessage, JobStatus, RosteringJob
from lti_app.timeutil import utcnow
from lti_app.worker import housekeeping

YEAR = timedelta(days=366)


def _jobs(tenant_id: int) -> list[RosteringJob]:
    return list(db.session.scalars(select(RosteringJob).where(RosteringJob.tenant_id == tenant_id)))


def _tally_total(tenant_id: int) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(tally.JobTally.count), 0)).where(
            tally.JobTally.tenant_id == tenant_id, tally.JobTally.bucket == tally.TOTAL
        )
    )


@pytest.fixture
def history(make_job, tenant_ids):
    """Alpha: five syncs three years old (one with files and messages, one still In Progress),
    two recent; Beta: one three years old."""
    now = utcnow()
    old = [
        make_job(updated_at=now - 3 * YEAR - timedelta(hours=n), status=status)
        for n, status in enumerate(
            [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.WARNING, JobStatus.IN_PROGRESS]
        )
    ]
    make_job(
        updated_at=now - 3 * YEAR,
        status=JobStatus.FAILED,
        files=[("canvas_sis_import.json", "{}")],
        messages=[{"severity": "error", "file": "u.csv", "row": 2, "message": "bad"}] * 3,
    )
    recent = [make_job(minutes_ago=m) for m in (5, 60 * 24 * 300)]
    make_job("dep-b", updated_at=now - 3 * YEAR)
    return old, recent


def test_a_purge_removes_what_is_past_the_history_and_the_counts_follow(history, tenant_ids):
    alpha = tenant_ids["dep-a"]
    retention.keep(alpha, 2, "Avery Admin")
    statements: list[int] = []

    def count_deletes(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("DELETE FROM ROSTERING_JOB "):
            statements.append(cursor.rowcount)

    retention.BATCH, batch = 2, retention.BATCH
    event.listen(db.engine, "after_cursor_execute", count_deletes)
    try:
        removed = retention.purge_all()
    finally:
        event.remove(db.engine, "after_cursor_execute", count_deletes)
        retention.BATCH = batch

    assert removed == {alpha: 4}
    left = _jobs(alpha)
    assert len(left) == 3
    assert sorted(j.status for j in left) == ["completed", "completed", "in_progress"]
    assert statements and max(statements) <= 2  # a batch a transaction
    assert db.session.scalar(select(func.count()).select_from(JobMessage)) == 0
    assert db.session.scalar(select(func.count()).select_from(JobFile)) == 0
    db.session.expire_all()
    assert db.session.get(Tenant, alpha).job_count == 3
    assert _tally_total(alpha) == 3
    # Beta keeps everything: nobody asked otherwise.
    assert len(_jobs(tenant_ids["dep-b"])) == 1
    assert retention.keeping(alpha).purged_jobs == 4


def test_the_operators_ceiling_holds_every_institution(app, history, tenant_ids, runner):
    app.config["HISTORY_MAX_YEARS"] = 1
    result = runner.invoke(args=["history", "purge"])
    assert "Removed 5 job(s) in all." in result.output  # Alpha's four, Beta's one
    assert len(_jobs(tenant_ids["dep-b"])) == 0


def test_the_admin_chooses_in_the_tab(app, launcher, client, history, tenant_ids):
    token = launcher.admin_token("dep-a")
    page = client.get("/rostering/settings", query_string={"launch_token": token}).get_data(True)
    assert "Every sync is kept." in page
    saved = client.post("/rostering/history", data={"launch_token": token, "years": "3"})
    assert saved.status_code == 303
    assert retention.keeping(tenant_ids["dep-a"]).chosen == 3
    assert retention.keeping(tenant_ids["dep-b"]).chosen is None
    page = client.get("/rostering/settings", query_string={"launch_token": token}).get_data(True)
    assert "Syncs are kept for 3 years after their last update" in page
    refused = client.post("/rostering/history", data={"launch_token": token, "years": "4"})
    assert refused.status_code == 422
    assert "Choose one of the lengths of history offered." in refused.get_data(as_text=True)
    # Under a ceiling, longer choices are offered disabled and refused.
    app.config["HISTORY_MAX_YEARS"] = 2
    page = client.get("/rostering/settings", query_string={"launch_token": token}).get_data(True)
    assert "Your SIS Integration operator keeps at most 2 years." in page
    assert '<option value="forever" disabled>' in page
    assert (
        client.post("/rostering/history", data={"launch_token": token, "years": "5"}).status_code
        == 422
    )
    # A teacher's launch never gets as far.
    assert client.post("/rostering/history", data={"years": "1"}).status_code in (401, 403)


def test_the_command_line_keeps_and_purges(runner, history, tenant_ids, registered):
    args = ["--issuer", registered.issuer, "--client-id", registered.client_id]
    result = runner.invoke(
        args=["history", "keep", *args, "--deployment-id", "dep-a", "--years", "2"]
    )
    assert result.exit_code == 0 and "keeps 2 year(s)" in result.output
    assert runner.invoke(args=["history", "keep", *args, "--deployment-id", "dep-a"]).exit_code
    result = runner.invoke(args=["history", "purge"])
    assert "Alpha College: 4 job(s) removed" in result.output
    result = runner.invoke(args=["history", "keep", *args, "--deployment-id", "dep-a", "--forever"])
    assert "keeps its whole history" in result.output


def test_the_worker_purges_once_a_day_whichever_worker_asks(history, tenant_ids):
    retention.keep(tenant_ids["dep-a"], 1, "Avery Admin")
    assert housekeeping("worker-1")
    assert len(_jobs(tenant_ids["dep-a"])) == 3  # the recent two, and the one In Progress
    assert not housekeeping("worker-1")  # done today
    assert not housekeeping("worker-2")

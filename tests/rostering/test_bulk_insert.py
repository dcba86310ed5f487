"""The bulk path stores, row for row, what the job store stores one job at a time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from lti_app.extensions import db
from lti_app.rostering import reading, writing
from lti_app.rostering.models import JobStatus, RosteringJob, Trigger

COMPARED = (
    "tenant_id",
    "type",
    "posted_by",
    "trigger",
    "sis_type",
    "stage",
    "status",
    "change_counts",
    "stage_history",
    "request_fingerprint",
    "sync_request_id",
    "created_at",
    "updated_at",
)


def _new(external_id: str, **fields) -> writing.NewJob:
    return writing.NewJob(
        external_id=external_id,
        posted_by="Jordan Rivera",
        trigger=Trigger.MANUAL,
        sis_type="OneRoster",
        status=JobStatus.FAILED,
        stage="Data Conversion",
        change_counts={"users": {"created": 1, "updated": 2, "deleted": 0}},
        created_at=datetime(2026, 11, 20, 15, 4, 5, 123456, tzinfo=UTC),
        updated_at=datetime(2026, 11, 20, 15, 9, 0, tzinfo=UTC),
        **fields,
    )


def _stored(external_id: str) -> RosteringJob:
    db.session.expire_all()
    return db.session.scalars(
        select(RosteringJob).where(RosteringJob.external_id == external_id)
    ).one()


def test_bulk_rows_equal_service_rows(tenant_ids, get, make_job):
    tenant = tenant_ids["dep-a"]
    writing.create_job(tenant, _new("one-by-one"))
    assert writing.insert_jobs(tenant, [_new("in-bulk")]) == 1
    one, bulk = _stored("one-by-one"), _stored("in-bulk")
    for name in COMPARED:
        assert getattr(bulk, name) == getattr(one, name), name
    assert len(bulk.public_id) == 32 and bulk.public_id != one.public_id
    assert reading.job_count(tenant) == 2
    # Both read back the same way, in the list and in the CSV.
    html = get("/rostering/").get_data(as_text=True)
    assert one.public_id in html and bulk.public_id in html
    csv = get("/rostering/jobs.csv").get_data(as_text=True)
    line = {row.split(",")[0]: row.split(",", 1)[1] for row in csv.splitlines()[1:]}
    assert line[one.public_id].replace("one-by-one", "X") == line[bulk.public_id].replace(
        "in-bulk", "X"
    )


def test_bulk_inserts_in_batches_and_counts_them(tenant_ids):
    tenant = tenant_ids["dep-b"]
    stored = writing.insert_jobs(tenant, (_new(f"b-{n}") for n in range(25)), batch=10)
    assert stored == 25
    assert reading.job_count(tenant) == 25


def test_bulk_refuses_jobs_with_files(tenant_ids):
    with pytest.raises(ValueError, match="create_job"):
        writing.insert_jobs(tenant_ids["dep-a"], [_new("f", files=[("a.json", "{}")])])

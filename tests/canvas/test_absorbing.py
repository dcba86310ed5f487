"""No double rows: an agent job that names its Canvas import absorbs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lti_app.dev.standin import sis_import
from lti_app.extensions import db
from lti_app.lti.models import Tenant

from .conftest import count_jobs, jobs_of

NOW = datetime.now(UTC).replace(microsecond=0)


def _agent_job(external_id: str = "agent-sync-1", **more):
    return {
        "external_id": external_id,
        "sis_type": "OneRoster",
        "status": "in_progress",
        "stage": "Canvas Import",
        **more,
    }


def test_an_agent_job_naming_a_mirrored_import_takes_its_place(
    canvas, connect, poll, api, tenant_ids
):
    canvas.standin.put(
        "1",
        sis_import(
            4001,
            NOW - timedelta(hours=1),
            state="imported_with_messages",
            warnings=[["users.csv", "no email"]],
        ),
    )
    connect()
    poll()
    assert [j.external_id for j in jobs_of(tenant_ids["dep-a"])] == ["canvas-sis-import-4001"]

    response = api(
        "POST",
        "/rostering_jobs",
        _agent_job(
            messages=[{"severity": "error", "file": "x.csv", "message": "agent saw this"}],
            canvas_sis_import_id=4001,
        ),
    )
    assert response.status_code == 201, response.json

    (job,) = jobs_of(tenant_ids["dep-a"])
    assert job.external_id == "agent-sync-1" and job.canvas_sis_import_id == 4001
    assert db.session.get(Tenant, tenant_ids["dep-a"]).job_count == 1
    assert [f.name for f in job.files] == ["canvas_sis_import.json"]
    assert {(m.source, m.message) for m in job.messages} == {
        ("agent", "agent saw this"),
        ("canvas", "no email"),
    }
    assert job.status == "warning"  # Canvas's final status
    assert response.json["canvas_sis_import_id"] == 4001

    # A later poll updates the agent's job; no "SIS Import" row comes back.
    poll()
    assert count_jobs(tenant_ids["dep-a"]) == 1


def test_an_import_named_before_it_is_mirrored_never_gets_a_row_of_its_own(
    canvas, connect, poll, api, tenant_ids
):
    created = api("POST", "/rostering_jobs", _agent_job()).json
    canvas.standin.put(
        "1", sis_import(4002, NOW - timedelta(minutes=3), state="importing", progress=30)
    )
    patched = api("PATCH", f"/rostering_jobs/{created['id']}", {"canvas_sis_import_id": 4002})
    assert patched.status_code == 200

    connect()
    poll()
    (job,) = jobs_of(tenant_ids["dep-a"])
    assert (job.status, job.stage) == ("in_progress", "Canvas Import (30%)")

    canvas.standin.put("1", sis_import(4002, NOW - timedelta(minutes=3), state="failed"))
    poll()
    db.session.expire_all()
    (job,) = jobs_of(tenant_ids["dep-a"])
    assert job.status == "failed" and job.external_id == "agent-sync-1"


def test_two_jobs_cannot_claim_one_import_and_nothing_half_stored(api, tenant_ids):
    assert (
        api("POST", "/rostering_jobs", _agent_job("a", canvas_sis_import_id=9)).status_code == 201
    )
    clash = api("POST", "/rostering_jobs", _agent_job("b", canvas_sis_import_id=9))
    assert clash.status_code == 409
    assert [j.external_id for j in jobs_of(tenant_ids["dep-a"])] == ["a"]
    bad = api("POST", "/rostering_jobs", _agent_job("c", canvas_sis_import_id=0))
    assert bad.status_code == 422
    assert bad.json["problems"][0]["field"] == "canvas_sis_import_id"


def test_another_institutions_import_of_the_same_id_is_left_alone(
    canvas, connect, poll, api, tenant_ids
):
    canvas.standin.put("2", sis_import(77, NOW - timedelta(hours=1)))
    connect("dep-b", account="2")
    poll()
    assert api("POST", "/rostering_jobs", _agent_job(canvas_sis_import_id=77)).status_code == 201
    assert [j.external_id for j in jobs_of(tenant_ids["dep-b"])] == ["canvas-sis-import-77"]
    assert [j.external_id for j in jobs_of(tenant_ids["dep-a"])] == ["agent-sync-1"]

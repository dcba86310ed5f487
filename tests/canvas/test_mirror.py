"""The mirror against a stand-in Canvas over real HTTP: the first sync, resuming, imports that
finish between polls, what Canvas's failures do, and the idle cost of a poll."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from lti_app.canvas import mirror
from lti_app.canvas.models import CanvasConnection
from lti_app.dev.standin import Fault, sis_import
from lti_app.extensions import db
from lti_app.lti.models import Tenant
from lti_app.rostering.models import SCHEDULED_POSTER
from lti_app.timeutil import utcnow

from .conftest import count_jobs, jobs_of

NOW = datetime.now(UTC).replace(microsecond=0)


def test_the_first_sync_mirrors_a_history_of_1000_imports_page_by_page(
    canvas, connect, poll, tenant_ids
):
    canvas.standin.add_history("1", 1000)
    connection = connect()

    assert poll() == {connection.id: "ok: 1000 job(s) changed"}

    jobs = jobs_of(tenant_ids["dep-a"])
    assert len(jobs) == 1000
    assert db.session.get(Tenant, tenant_ids["dep-a"]).job_count == 1000
    assert {job.external_id for job in jobs} == {
        f"canvas-sis-import-{n}" for n in range(1000, 2000)
    }
    assert {job.type for job in jobs} == {"SIS Import"}
    # Ten pages of 100 on the first request's Link chain, nothing asked twice.
    lists = canvas.list_requests()
    assert len(lists) == 10
    assert [q.get("page", "1") for q in lists] == [str(n) for n in range(1, 11)]
    db.session.refresh(connection)
    assert connection.backfill_done and connection.state == "active"


def test_an_idle_institution_costs_one_request_a_poll(canvas, connect, poll, tenant_ids):
    canvas.standin.add_history("1", 30)
    connect()
    poll()
    before = len(canvas.standin.requests)

    assert list(poll().values()) == ["ok: 0 job(s) changed"]

    assert len(canvas.standin.requests) - before == 1
    (query,) = canvas.list_requests()[-1:]
    assert "created_since" in query
    assert count_jobs(tenant_ids["dep-a"]) == 30


def test_an_interrupted_first_sync_resumes_where_it_stopped(canvas, connect, poll, tenant_ids):
    canvas.standin.add_history("1", 1000)
    connection = connect()
    # Three pages arrive, then Canvas fails every try at the fourth (3 attempts).
    canvas.standin.faults.extend([Fault(status=0)] * 3 + [Fault(status=502)] * 3)

    (outcome,) = poll().values()
    assert outcome.startswith("failed")
    assert count_jobs(tenant_ids["dep-a"]) == 300
    db.session.refresh(connection)
    assert not connection.backfill_done
    assert connection.next_poll_at <= utcnow() + timedelta(seconds=61)

    first_of_second_poll = len(canvas.list_requests())
    assert list(poll().values()) == ["ok: 700 job(s) changed"]

    resumed = canvas.list_requests()[first_of_second_poll:]
    assert "created_before" in resumed[0]  # from its place, not from the newest import
    assert len(resumed) == 7 + 1  # the 700 left (a page with the boundary's second again)
    assert count_jobs(tenant_ids["dep-a"]) == 1000


def test_an_import_that_finishes_between_polls_is_updated_not_duplicated(
    canvas, connect, poll, tenant_ids
):
    canvas.standin.add_history("1", 5)
    running = sis_import(77, NOW - timedelta(minutes=2), state="importing", progress=40)
    canvas.standin.put("1", running)
    connection = connect()
    poll()

    (job,) = [j for j in jobs_of(tenant_ids["dep-a"]) if j.canvas_sis_import_id == 77]
    assert (job.status, job.stage) == ("in_progress", "Canvas Import (40%)")
    db.session.refresh(connection)
    # While an import runs, the next look is a minute away, not ten.
    assert connection.next_poll_at <= utcnow() + timedelta(seconds=61)

    canvas.standin.put(
        "1",
        sis_import(
            77,
            NOW - timedelta(hours=3),
            state="imported_with_messages",
            warnings=[["users.csv", "user u1 has no email"], ["", "There were 312 more warnings"]],
        ),
    )
    poll()

    assert "/api/v1/accounts/1/sis_imports/77" in canvas.show_requests()
    db.session.expire_all()
    (job,) = [j for j in jobs_of(tenant_ids["dep-a"]) if j.canvas_sis_import_id == 77]
    assert (job.status, job.stage) == ("warning", "Canvas Import")
    assert [(m.severity, m.file, m.message) for m in job.messages] == [
        ("warning", "users.csv", "user u1 has no email"),
        ("warning", "", "There were 312 more warnings"),
    ]
    assert count_jobs(tenant_ids["dep-a"]) == 6


STATES = {
    "initializing": ("in_progress", "Canvas Import (0%)"),
    "created": ("in_progress", "Canvas Import (0%)"),
    "importing": ("in_progress", "Canvas Import (0%)"),
    "cleanup_batch": ("in_progress", "Canvas Import (0%)"),
    "restoring": ("in_progress", "Restoring"),
    "imported": ("completed", ""),
    "restored": ("completed", ""),
    "imported_with_messages": ("warning", "Canvas Import"),
    "partially_restored": ("warning", "Canvas Import"),
    "failed": ("failed", "Canvas Import"),
    "failed_with_messages": ("failed", "Canvas Import"),
    "aborted": ("failed", "Canvas Import"),
}


def test_every_workflow_state_becomes_its_status_and_stage(canvas, connect, poll, tenant_ids):
    for n, state in enumerate(STATES):
        progress = 100 if state in ("imported", "restored") else 0
        canvas.standin.put(
            "1", sis_import(500 + n, NOW - timedelta(hours=n + 1), state=state, progress=progress)
        )
    connect()
    poll()

    got = {
        json.loads(job.files[0].content)["workflow_state"]: (job.status, job.stage)
        for job in jobs_of(tenant_ids["dep-a"])
    }
    assert got == STATES
    assert set(mirror.STATUS_BY_STATE) == set(STATES)


def test_a_mirrored_job_carries_what_canvas_said(canvas, connect, poll, tenant_ids):
    document = sis_import(
        901,
        NOW - timedelta(hours=2),
        state="failed_with_messages",
        user="Dana Scheduler",
        import_type="ims_xml",
        errors=[["enrollments.csv", "Course C-1 not found"]],
        users_created=3,
        enrollments_created=9,
    )
    canvas.standin.put("1", document)
    canvas.standin.put("1", sis_import(902, NOW - timedelta(hours=1), user=None))
    connect()
    poll()

    failed, nameless = sorted(jobs_of(tenant_ids["dep-a"]), key=lambda j: j.canvas_sis_import_id)
    assert (failed.type, failed.posted_by, failed.sis_type) == (
        "SIS Import",
        "Dana Scheduler",
        "ims_xml",
    )
    assert failed.updated_at == datetime.fromisoformat(document["ended_at"])
    # Canvas's statistics, and its rows processed per file beside them (both are shown).
    assert failed.change_counts == {
        "users": {"created": 3, "updated": 1, "deleted": 0, "processed": 6},
        "enrollments": {"created": 9, "updated": 1, "deleted": 0, "processed": 14},
    }
    assert [(m.severity, m.file, m.message, m.source) for m in failed.messages] == [
        ("error", "enrollments.csv", "Course C-1 not found", "canvas")
    ]
    ((name, content),) = [(f.name, f.content) for f in failed.files]
    assert name == "canvas_sis_import.json" and json.loads(content) == document
    assert nameless.posted_by == SCHEDULED_POSTER and nameless.trigger == "scheduled"


def test_imports_without_statistics_show_rows_processed(canvas):
    document = sis_import(5, NOW)
    del document["data"]["statistics"]
    document["data"]["counts"].update({"users": 40, "batch_courses_deleted": 2})
    assert mirror.change_counts(document) == {
        "users": {"created": 0, "updated": 40, "deleted": 0},
        "enrollments": {"created": 0, "updated": 45, "deleted": 0},
        "courses": {"created": 0, "updated": 0, "deleted": 2},
    }


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "SIS imports are only available on root accounts"),
        (403, "user not authorized to perform that action"),
    ],
)
def test_a_refusing_account_is_a_plain_message_in_the_tab(
    canvas, connect, poll, launcher, client, status, message
):
    canvas.standin.refuse_accounts["1"] = (status, message)
    connect()
    (outcome,) = poll().values()
    assert outcome.startswith("refused")

    token = launcher.admin_token("dep-a")
    page = client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)
    assert (
        "Canvas refused to list SIS imports" in page
        or "Canvas does not let this connection" in page
    )
    assert "Traceback" not in page


def test_a_poll_never_makes_the_page_wait(canvas, connect, poll, launcher, client):
    """Polls run in the worker; a slow Canvas does not reach the admin's page."""
    canvas.standin.faults.append(Fault(status=0, delay=1.5))
    connect()
    token = launcher.admin_token("dep-a")
    response = client.get("/rostering/", query_string={"launch_token": token})
    assert response.status_code == 200
    assert canvas.standin.requests == []  # the page itself asked Canvas nothing


def test_a_dead_workers_lease_expires_and_another_worker_takes_over(canvas, connect, poll):
    canvas.standin.add_history("1", 3)
    connection = connect()
    connection.lease_owner = "dead-worker"
    connection.lease_expires_at = utcnow() + timedelta(minutes=5)
    db.session.commit()
    assert poll() == {}  # still leased

    connection.lease_expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert poll() == {connection.id: "ok: 3 job(s) changed"}
    db.session.refresh(connection)
    assert connection.lease_owner is None


def test_the_tab_says_who_connected_and_when(canvas, connect, poll, launcher, client):
    canvas.standin.add_history("1", 2)
    connect()
    poll()
    token = launcher.admin_token("dep-a")
    page = client.get("/rostering/settings", query_string={"launch_token": token}).get_data(True)
    assert "Canvas SIS imports" in page
    assert "Connected by Test Operator on" in page
    jobs = client.get("/rostering/", query_string={"launch_token": token}).get_data(True)
    assert jobs.count("SIS Import</td>") == 2


def test_a_connection_to_another_account_starts_the_history_over(canvas, connect, tenant_ids):
    first = connect(account="1")
    first.backfill_done = True
    db.session.commit()
    again = connect(account="1")
    assert again.backfill_done  # reconnecting keeps the mirror's place
    other = connect(account="2")
    assert not other.backfill_done
    assert db.session.query(CanvasConnection).count() == 1


def test_the_details_window_shows_statistics_and_rows_processed(
    canvas, connect, poll, launcher, client, tenant_ids
):
    canvas.standin.put("1", sis_import(77, NOW - timedelta(hours=2), users_created=4845))
    connect()
    poll()
    token = launcher.admin_token("dep-a")
    (job,) = jobs_of(tenant_ids["dep-a"])
    page = client.get(
        f"/rostering/jobs/{job.public_id}/details", query_string={"launch_token": token}
    ).get_data(as_text=True)
    assert "Rows processed" in page
    assert "4,845" in page and "4,848" in page  # users created (statistics), rows (counts)


def test_imports_older_than_the_institution_keeps_are_not_mirrored(
    canvas, connect, poll, tenant_ids
):
    from lti_app.rostering import retention

    retention.keep(tenant_ids["dep-a"], 1, "Avery Admin")
    canvas.standin.put("1", sis_import(501, NOW - timedelta(days=800)))
    canvas.standin.put("1", sis_import(502, NOW - timedelta(days=10)))
    connect()
    poll()
    assert [job.canvas_sis_import_id for job in jobs_of(tenant_ids["dep-a"])] == [502]

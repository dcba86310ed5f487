"""The change guard: a sync that would delete too much waits for an admin's approval; what the
agent, the admins and the worker see and do about it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from lti_app.alerts import guard
from lti_app.alerts.models import AlertDelivery
from lti_app.extensions import db
from lti_app.rostering import approvals
from lti_app.rostering.models import JobApproval, RosteringJob
from lti_app.timeutil import utcnow
from tests.support.race import race

PLANNED = {
    "enrollments": {"existing": 12000, "created": 40, "updated": 10, "deleted": 4000},
    "users": {"existing": 3000, "created": 5, "updated": 20, "deleted": 3},
}


def _running_job(api, external_id: str = "sync-1", as_: str = "dep-a") -> dict:
    answer = api(
        "POST",
        "/rostering_jobs",
        {"external_id": external_id, "sis_type": "OneRoster", "stage": "Data Conversion"},
        as_=as_,
    )
    assert answer.status_code == 201
    return answer.get_json()


def _check(api, job_id: str, planned: dict, as_: str = "dep-a"):
    return api("POST", f"/rostering_jobs/{job_id}/change_check", {"planned": planned}, as_=as_)


def test_within_the_lines_the_sync_proceeds(api):
    job = _running_job(api)
    answer = _check(api, job["id"], {"enrollments": {"existing": 12000, "deleted": 100}})
    assert answer.status_code == 200
    assert answer.get_json() == {"decision": "proceed", "reasons": []}
    assert api("GET", f"/rostering_jobs/{job['id']}").get_json()["approval"] is None


def test_over_the_line_the_sync_is_held_and_the_admins_told(api, smtp, add_email, worker_round):
    add_email("ops@alpha.example.edu", events=["held"])
    job = _running_job(api)
    answer = _check(api, job["id"], PLANNED)
    assert answer.status_code == 202
    assert answer.get_json() == {
        "decision": "held",
        "reasons": ["would delete 4,000 of 12,000 enrollments (33 %), more than 10 %"],
    }
    shown = api("GET", f"/rostering_jobs/{job['id']}").get_json()
    assert shown["status"] == "in_progress" and shown["stage"] == "Awaiting approval"
    assert shown["approval"] == {
        "state": "pending",
        "reasons": answer.get_json()["reasons"],
        "planned": PLANNED,
        "decided_by": None,
        "decided_at": None,
    }
    # Asking again is harmless: still held, nobody told twice.
    assert _check(api, job["id"], PLANNED).status_code == 202
    worker_round()
    (held,) = smtp.inbox.messages
    assert str(held["Subject"]).endswith("Roster Import is waiting for your approval")
    assert "would delete 4,000 of 12,000 enrollments" in held.get_body(("plain",)).get_content()

    # While held, the agent can only give up.
    moved = api("PATCH", f"/rostering_jobs/{job['id']}", {"stage": "Canvas Import"})
    assert moved.status_code == 409
    assert api("PATCH", f"/rostering_jobs/{job['id']}", {"status": "completed"}).status_code == 409


def test_a_count_line_holds_without_existing(api):
    job = _running_job(api)
    answer = _check(api, job["id"], {"users": {"deleted": 1500}})
    assert answer.status_code == 202
    assert answer.get_json()["reasons"] == ["would delete 1,500 users, more than 1,000"]


def _decide(client, token: str, job_id: str, decision: str):
    return client.post(
        f"/rostering/holds/{job_id}/{decision}", data={"launch_token": token}
    )


def test_approve_lets_the_agent_go_on(api, client, launcher):
    job = _running_job(api)
    _check(api, job["id"], PLANNED)
    token = launcher.admin_token("dep-a")
    page = client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)
    assert "A sync waits for your approval" in page and "4,000" in page

    answer = _decide(client, token, job["id"], "approve")
    assert answer.status_code == 303
    approval = api("GET", f"/rostering_jobs/{job['id']}").get_json()["approval"]
    assert approval["state"] == "approved" and approval["decided_by"] == "Avery Admin"
    assert approval["decided_at"] is not None
    # The agent asks again (or goes straight on): proceed, and the job moves.
    assert _check(api, job["id"], PLANNED).get_json()["decision"] == "proceed"
    finished = api("PATCH", f"/rostering_jobs/{job['id']}", {"status": "completed", "stage": ""})
    assert finished.status_code == 200
    page = client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)
    assert "A sync waits for your approval" not in page


def test_reject_ends_the_sync_failed(api, client, launcher):
    job = _running_job(api)
    _check(api, job["id"], PLANNED)
    token = launcher.admin_token("dep-a")
    assert _decide(client, token, job["id"], "reject").status_code == 303
    shown = api("GET", f"/rostering_jobs/{job['id']}").get_json()
    assert shown["status"] == "failed" and shown["stage"] == "Awaiting approval"
    assert shown["approval"]["state"] == "rejected"
    assert {
        "severity": "error",
        "file": "",
        "row": None,
        "message": "Rejected by Avery Admin",
        "row_info": None,
    } in shown["messages"]
    # A final job cannot be checked again.
    assert _check(api, job["id"], PLANNED).status_code == 409
    details = client.get(
        f"/rostering/jobs/{job['id']}/details", query_string={"launch_token": token}
    ).get_data(as_text=True)
    assert "Rejected by Avery Admin on" in details


def test_the_first_of_two_admins_wins_and_the_second_is_told(api, client, launcher, make_app, app):
    job = _running_job(api)
    _check(api, job["id"], PLANNED)
    first = launcher.admin_token("dep-a", name="Morgan First")
    second = launcher.admin_token("dep-a", name="Riley Second")
    answers: dict[str, int] = {}

    # Two browsers on two apps, made before the race (making an app is not what races here).
    browsers = []
    for _ in range(2):
        other = make_app()
        other.test_client_class = type(client)
        browsers.append(other.test_client())

    def click(browser: Any, token: str, decision: str) -> Callable[[], None]:
        def send() -> None:
            answers[decision] = _decide(browser, token, job["id"], decision).status_code

        return send

    race(click(browsers[0], first, "approve"), click(browsers[1], second, "reject"))
    assert sorted(answers.values()) == [303, 409]
    approval = db.session.get(JobApproval, db.session.scalar(
        select(RosteringJob.id).where(RosteringJob.public_id == job["id"])), populate_existing=True)
    winner = "approve" if answers["approve"] == 303 else "reject"
    assert approval.state == ("approved" if winner == "approve" else "rejected")
    # The loser is told who decided.
    late = _decide(client, second if winner == "approve" else first, job["id"], "approve")
    assert late.status_code == 409
    assert f"{approval.decided_by} already" in late.get_data(as_text=True)


def test_an_undecided_hold_expires(api, app):
    job = _running_job(api)
    _check(api, job["id"], PLANNED)
    assert approvals.expire(24) == 0  # not yet
    assert approvals.expire(24, now=utcnow() + timedelta(hours=24, minutes=1)) == 1
    shown = api("GET", f"/rostering_jobs/{job['id']}").get_json()
    assert shown["status"] == "failed" and shown["approval"]["state"] == "expired"
    assert shown["messages"][-1]["message"] == "Not approved within 24 hours"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "POST", "DELETE"])
def test_an_api_token_cannot_change_the_guard(api, method, tenant_ids):
    answer = api(method, "/change_guard", {"enabled": False, "percent": 90, "count": 1})
    assert answer.status_code == 405
    assert guard.thresholds(tenant_ids["dep-a"]) == guard.Thresholds()
    line = {"enabled": True, "percent": 10, "count": 1000}
    assert api("GET", "/change_guard").get_json() == {
        **line, "ordinary": line, "allowance": None, "skip_deletes": False, "additions_only": None
    }


def test_the_agent_reads_the_guard_the_admins_set(api, client, launcher, tenant_ids):
    token = launcher.admin_token("dep-a")
    saved = client.post(
        "/rostering/alerts/guard",
        data={"launch_token": token, "enabled": "on", "percent": "25", "count": "500"},
    )
    assert saved.status_code == 303
    shown = api("GET", "/change_guard").get_json()
    assert shown["ordinary"] == {"enabled": True, "percent": 25, "count": 500}
    assert (shown["percent"], shown["count"]) == (25, 500)  # the line in force: no allowance
    assert api("GET", "/change_guard", as_="dep-b").get_json()["percent"] == 10
    off = client.post("/rostering/alerts/guard", data={"launch_token": token, "percent": "25",
                                                       "count": "500"})
    assert off.status_code == 303
    job = _running_job(api)
    assert _check(api, job["id"], PLANNED).status_code == 200  # off: nothing is held


def test_bad_checks_are_refused_plainly(api):
    job = _running_job(api)
    other = _running_job(api, "b-sync", as_="dep-b")
    assert _check(api, other["id"], PLANNED).status_code == 404
    bad = _check(api, job["id"], {"enrollments": {"deleted": -1}})
    assert bad.status_code == 422
    assert bad.get_json()["problems"][0]["field"] == "planned.enrollments.deleted"
    assert api("POST", f"/rostering_jobs/{job['id']}/change_check", {}).status_code == 422
    done = api("PATCH", f"/rostering_jobs/{job['id']}", {"status": "completed", "stage": ""})
    assert done.status_code == 200
    assert _check(api, job["id"], PLANNED).status_code == 409


def test_another_institutions_admin_can_neither_see_nor_decide(api, client, launcher):
    job = _running_job(api)
    _check(api, job["id"], PLANNED)
    beta = launcher.admin_token("dep-b")
    page = client.get("/rostering/", query_string={"launch_token": beta}).get_data(as_text=True)
    assert "A sync waits for your approval" not in page and job["id"] not in page
    for decision in ("approve", "reject"):
        assert _decide(client, beta, job["id"], decision).status_code == 404
    assert client.get(
        f"/rostering/jobs/{job['id']}/details", query_string={"launch_token": beta}
    ).status_code == 404
    assert api("GET", f"/rostering_jobs/{job['id']}").get_json()["approval"]["state"] == "pending"


def test_a_finished_sync_that_deleted_too_much_is_flagged(
    api, smtp, add_email, worker_round, client, launcher
):
    add_email("ops@alpha.example.edu", events=["anomaly"])
    job = _running_job(api)
    api(
        "PATCH",
        f"/rostering_jobs/{job['id']}",
        {
            "status": "completed",
            "stage": "",
            "change_counts": {"enrollments": {"created": 0, "updated": 3, "deleted": 2500}},
        },
    )
    worker_round()
    (alert,) = smtp.inbox.messages
    assert str(alert["Subject"]).endswith("deleted more than your change guard allows")
    assert "deleted 2,500 enrollments, more than 1,000" in alert.get_body(("plain",)).get_content()
    token = launcher.admin_token("dep-a")
    page = client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)
    assert "Large deletion" in page


def test_an_approved_deletion_is_not_an_anomaly(api, client, launcher, smtp, add_email,
                                               worker_round):
    add_email("ops@alpha.example.edu", events=["anomaly"])
    job = _running_job(api)
    _check(api, job["id"], PLANNED)
    _decide(client, launcher.admin_token("dep-a"), job["id"], "approve")
    api("PATCH", f"/rostering_jobs/{job['id']}", {
        "status": "completed", "stage": "",
        "change_counts": {"enrollments": {"created": 40, "updated": 10, "deleted": 4000}},
    })
    worker_round()
    assert smtp.inbox.messages == []
    assert not db.session.scalars(select(AlertDelivery)).all()

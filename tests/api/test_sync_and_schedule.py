"""Sync now, the schedule's Pause/Resume, and agents picking up requests over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from sqlalchemy import func, select

from lti_app.extensions import db
from lti_app.rostering.models import SyncRequest
from tests.support.race import race

SCHEDULE = {
    "frequency": "daily",
    "time_of_day": "02:00",
    "first_run": "2026-09-01T08:00:00Z",
    "timezone": "America/Chicago",
}


def _page(client, token, **query) -> str:
    response = client.get("/rostering/", query_string={"launch_token": token, **query})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _sync_now(client, token):
    return client.post("/rostering/sync_requests", data={"launch_token": token, "page": "1"})


@pytest.fixture
def admin(launcher) -> str:
    return launcher.admin_token("dep-a", name="Priya Natarajan")


def test_sync_now_creates_one_pending_request_shown_until_claimed(client, admin, api):
    response = _sync_now(client, admin)
    assert response.status_code == 303
    assert response.location.startswith("/rostering/?page=1&launch_token=")
    assert _sync_now(client, admin).status_code == 303  # a second click
    pending = api("GET", "/sync_requests", query_string={"status": "pending"}).json["data"]
    assert len(pending) == 1
    assert pending[0]["requested_by"] == "Priya Natarajan"
    assert "Sync requested by Priya Natarajan" in _page(client, admin)

    claimed = api("POST", f"/sync_requests/{pending[0]['id']}/claim", {"agent": "agent-1"})
    assert claimed.status_code == 200
    assert claimed.json["status"] == "claimed" and claimed.json["claimed_by"] == "agent-1"
    assert "Sync requested by" not in _page(client, admin)
    assert api("POST", f"/sync_requests/{pending[0]['id']}/claim").status_code == 409


def test_the_job_answering_a_request_is_posted_by_the_admin_as_manual(client, admin, api):
    _sync_now(client, admin)
    request_id = api("GET", "/sync_requests").json["data"][0]["id"]
    api("POST", f"/sync_requests/{request_id}/claim")
    job = api(
        "POST",
        "/rostering_jobs",
        {
            "external_id": "manual-1",
            "sis_type": "OneRoster",
            "sync_request_id": request_id,
            "posted_by": "Someone Else",
            "trigger": "scheduled",
        },
    ).json
    assert (job["posted_by"], job["trigger"]) == ("Priya Natarajan", "manual")
    assert "Priya Natarajan" in _page(client, admin)


def test_sync_request_of_another_institution_cannot_be_claimed_or_used(client, admin, api):
    _sync_now(client, admin)
    request_id = api("GET", "/sync_requests").json["data"][0]["id"]
    assert api("GET", "/sync_requests", as_="dep-b").json["data"] == []
    assert api("POST", f"/sync_requests/{request_id}/claim", as_="dep-b").status_code == 404
    body = {"external_id": "x", "sis_type": "S", "sync_request_id": request_id}
    response = api("POST", "/rostering_jobs", body, as_="dep-b")
    assert response.status_code == 422
    assert response.json["problems"][0]["field"] == "sync_request_id"


def test_actions_need_a_post_with_the_token_in_the_body(client, admin):
    assert (
        client.get("/rostering/sync_requests", query_string={"launch_token": admin}).status_code
        == 405
    )
    # The token in the query string does not authorise a change: a form must carry it.
    response = client.post("/rostering/sync_requests", query_string={"launch_token": admin})
    assert response.status_code == 401
    assert client.post("/rostering/sync_requests", data={}).status_code == 401
    assert db.session.scalar(select(func.count()).select_from(SyncRequest)) == 0


def test_pause_and_resume_the_schedule(client, admin, api):
    assert api("PUT", "/schedule", SCHEDULE).status_code == 200
    response = client.post("/rostering/schedule/pause", data={"launch_token": admin})
    assert response.status_code == 303
    html = _page(client, admin)
    assert "Paused" in html and "by Priya Natarajan" in html and "Resume schedule" in html
    schedule = api("GET", "/schedule").json
    assert schedule["enabled"] is False and schedule["paused_by"] == "Priya Natarajan"
    assert schedule["next_run"] is None
    client.post("/rostering/schedule/resume", data={"launch_token": admin})
    schedule = api("GET", "/schedule").json
    assert schedule["enabled"] is True and schedule["paused_by"] is None
    assert schedule["next_run"] is not None


def test_pause_without_a_schedule_is_404(client, admin):
    assert client.post("/rostering/schedule/pause", data={"launch_token": admin}).status_code == 404


def test_schedule_through_the_api(api, client, admin):
    assert api("GET", "/schedule").status_code == 404
    saved = api("PUT", "/schedule", SCHEDULE).json
    assert saved["interval"] == "Daily at 02:00"
    assert saved["timezone"] == "America/Chicago"
    assert "Daily at 02:00" in _page(client, admin)
    assert api("GET", "/schedule", as_="dep-b").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SCHEDULE, "frequency": "monthly"}, "frequency"),
        ({**SCHEDULE, "time_of_day": "25:00"}, "time_of_day"),
        ({**SCHEDULE, "first_run": "next tuesday"}, "first_run"),
        ({**SCHEDULE, "first_run": "2026-09-01T08:00:00"}, "first_run"),
        ({**SCHEDULE, "timezone": "Mars/Olympus"}, "timezone"),
        ({**SCHEDULE, "frequency": "hourly"}, "body"),
        ({**SCHEDULE, "frequency": "weekly"}, "body"),
    ],
)
def test_bad_schedules_are_422_and_change_nothing(api, body, field):
    api("PUT", "/schedule", SCHEDULE)
    response = api("PUT", "/schedule", body)
    assert response.status_code == 422
    assert field in [p["field"] for p in response.json["problems"]]
    assert api("GET", "/schedule").json["interval"] == "Daily at 02:00"


def _race_for(url: str, headers: dict[str, str], agents: int) -> list[int]:
    """Send ``agents`` claims for the same request at the same moment; their statuses."""

    def agent(n: int) -> Callable[[], int]:
        return lambda: requests.post(
            url, json={"agent": f"agent-{n}"}, headers=headers, timeout=30
        ).status_code

    return race(*(agent(n) for n in range(agents)))


def test_racing_agents_never_both_claim_a_request(tool_url, client, admin, api_tokens):
    """Eight agents over real HTTP, all at once: exactly one claim succeeds each time."""
    headers = {"Authorization": f"Bearer {api_tokens['dep-a']}"}
    for round_ in range(3):
        _sync_now(client, admin)
        pending = requests.get(
            f"{tool_url}/api/v1/sync_requests?status=pending", headers=headers, timeout=10
        ).json()["data"]
        assert len(pending) == 1, round_
        url = f"{tool_url}/api/v1/sync_requests/{pending[0]['id']}/claim"
        statuses = _race_for(url, headers, agents=8)
        assert sorted(statuses) == [200] + [409] * 7, statuses

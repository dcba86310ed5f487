"""Tenancy: an admin or agent of Alpha College asking for Beta University's objects, by any
route, gets 404, and nothing of Beta appears in anything Alpha is shown."""

from __future__ import annotations

import pytest

from lti_app.rostering import sync
from lti_app.rostering.models import JobStatus

BETA_MARK = "beta-only-marker"


@pytest.fixture
def beta(make_job, tenant_ids):
    """Beta University's job (with a file and a message), schedule and pending sync request."""
    job = make_job(
        "dep-b",
        external_id=f"{BETA_MARK}-job",
        posted_by=f"{BETA_MARK} admin",
        sis_type=f"{BETA_MARK} SIS",
        status=JobStatus.FAILED,
        stage="Canvas Import",
        files=[("beta.json", f'{{"mark": "{BETA_MARK}"}}')],
        messages=[{"severity": "error", "file": "b.csv", "row": 1, "message": BETA_MARK}],
    )
    sync.save_schedule(
        tenant_ids["dep-b"],
        {
            "frequency": "hourly",
            "every_hours": 3,
            "posted_by": f"{BETA_MARK} scheduler",
            "first_run": job.created_at,
            "timezone": "UTC",
        },
    )
    request, _ = sync.request_sync(tenant_ids["dep-b"], f"{BETA_MARK} requester", "u-b")
    return {"job": job.public_id, "external_id": job.external_id, "request": request.id}


PAGE_ROUTES = [
    "/rostering/jobs/{job}/json",
    "/rostering/jobs/{job}/details",
    "/rostering/jobs/{job}/files/0",
]
API_ROUTES = [
    ("GET", "/api/v1/rostering_jobs/{job}", None),
    ("GET", "/api/v1/rostering_jobs/ext:{external_id}", None),
    ("PATCH", "/api/v1/rostering_jobs/{job}", {"status": "completed"}),
    ("PATCH", "/api/v1/rostering_jobs/ext:{external_id}", {"stage": "Queued"}),
    ("POST", "/api/v1/sync_requests/{request}/claim", {}),
]


@pytest.mark.parametrize("route", PAGE_ROUTES)
def test_alpha_admin_gets_404_for_beta_objects(client, launcher, beta, route):
    token = launcher.admin_token("dep-a")
    response = client.get(route.format(**beta), query_string={"launch_token": token})
    assert response.status_code == 404
    assert BETA_MARK not in response.get_data(as_text=True)


@pytest.mark.parametrize(("method", "route", "body"), API_ROUTES)
def test_alpha_agent_gets_404_for_beta_objects(api, beta, method, route, body):
    response = api(method, route.format(**beta), body)
    assert response.status_code == 404
    assert BETA_MARK not in response.get_data(as_text=True)


def test_nothing_of_beta_in_anything_alpha_sees(client, launcher, api, beta, make_job):
    own = make_job("dep-a")
    token = launcher.admin_token("dep-a")
    client.post("/rostering/sync_requests", data={"launch_token": token})
    seen = [
        client.get("/rostering/", query_string={"launch_token": token}),
        client.get("/rostering/jobs.csv", query_string={"launch_token": token}),
        client.get(
            f"/rostering/jobs/{own.public_id}/details", query_string={"launch_token": token}
        ),
        api("GET", "/rostering_jobs"),
        api("GET", "/sync_requests"),
        api("GET", "/schedule"),
    ]
    for response in seen:
        assert BETA_MARK not in response.get_data(as_text=True), response.request.path


def test_beta_objects_are_untouched_by_alpha(client, launcher, api, beta):
    token = launcher.admin_token("dep-a")
    client.post("/rostering/schedule/pause", data={"launch_token": token})  # Alpha has none
    for method, route, body in API_ROUTES:
        api(method, route.format(**beta), body)
    job = api("GET", f"/rostering_jobs/{beta['job']}", as_="dep-b").json
    assert (job["status"], job["stage"]) == ("failed", "Canvas Import")
    assert api("GET", "/sync_requests", as_="dep-b").json["data"][0]["status"] == "pending"
    assert api("GET", "/schedule", as_="dep-b").json["enabled"] is True


@pytest.mark.parametrize(
    "path", ["/rostering/sync_requests", "/rostering/schedule/pause", "/rostering/schedule/resume"]
)
def test_state_changes_never_happen_on_get(client, launcher, path):
    token = launcher.admin_token("dep-a")
    assert client.get(path, query_string={"launch_token": token}).status_code == 405

"""An admin sees only their own institution's jobs, whatever URL they type."""

from __future__ import annotations

import pytest

from lti_app.rostering.models import JobStatus

ROUTES = [
    "/rostering/jobs/{id}/json",
    "/rostering/jobs/{id}/details",
    "/rostering/jobs/{id}/files/0",
]


@pytest.fixture
def other_tenants_job(make_job):
    return make_job(
        "dep-b",
        posted_by="Beta Secret Admin",
        sis_type="Beta SIS",
        status=JobStatus.FAILED,
        files=[("beta.json", '{"beta": "secret"}')],
        messages=[{"severity": "error", "file": "beta.csv", "row": 1, "message": "beta secret"}],
    )


@pytest.mark.parametrize("route", ROUTES)
def test_another_tenants_job_is_404_on_every_route(get, other_tenants_job, route):
    response = get(route.format(id=other_tenants_job.public_id))
    assert response.status_code == 404
    assert "Beta" not in response.get_data(as_text=True)


@pytest.mark.parametrize("route", ["/rostering/", "/rostering/jobs.csv"])
def test_another_tenants_jobs_never_appear_in_lists(get, make_job, other_tenants_job, route):
    own = make_job("dep-a", posted_by="Alpha Admin")
    body = get(route).get_data(as_text=True)
    assert own.public_id in body
    assert other_tenants_job.public_id not in body
    assert "Beta Secret Admin" not in body and "Beta SIS" not in body


def test_the_other_tenant_sees_its_own_job(launcher, client, other_tenants_job):
    token = launcher.admin_token("dep-b")
    path = f"/rostering/jobs/{other_tenants_job.public_id}/details"
    response = client.get(path, query_string={"launch_token": token})
    assert response.status_code == 200
    assert "beta secret" in response.get_data(as_text=True)

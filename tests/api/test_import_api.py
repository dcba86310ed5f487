"""Importing an institution's past syncs: many at once, all or none, retries harmless."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from lti_app.extensions import db
from lti_app.lti.models import Tenant
from lti_app.rostering.models import RosteringJob
from tests.support.race import race

START = datetime(2025, 9, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def get_page(client, launcher):
    """The text of a tool page as Alpha College's admin sees it."""
    token = launcher.admin_token("dep-a")

    def get(path: str) -> str:
        response = client.get(path, query_string={"launch_token": token})
        assert response.status_code == 200
        return response.get_data(as_text=True)

    return get


def _past(n: int, **fields: Any) -> dict[str, Any]:
    started = START + timedelta(hours=n)
    return {
        "external_id": f"hist-{n:05d}",
        "sis_type": "OneRoster",
        "status": "completed",
        "created_at": started.isoformat(),
        "updated_at": (started + timedelta(minutes=9)).isoformat(),
        **fields,
    }


def _stored(tenant_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(RosteringJob).where(RosteringJob.tenant_id == tenant_id)
    )


def test_import_stores_history_with_its_own_times_in_every_view(api, get_page, tenant_ids):
    failed = _past(
        2,
        status="failed",
        stage="Data Conversion",
        trigger="manual",
        posted_by="Jordan Rivera",
        messages=[{"severity": "error", "file": "users.csv", "row": 7, "message": "bad email"}],
        files=[{"name": "canvas_import.json", "content": '{"workflow_state": "failed"}'}],
    )
    body = {"jobs": [_past(0), _past(1, status="warning"), failed]}
    response = api("POST", "/rostering_jobs/import", body)
    assert response.status_code == 201
    result = response.json
    assert (result["created"], result["existing"]) == (3, 0)
    assert [j["external_id"] for j in result["jobs"]] == ["hist-00000", "hist-00001", "hist-00002"]
    assert all(j["created"] for j in result["jobs"])

    stored = api("GET", f"/rostering_jobs/{result['jobs'][2]['id']}").json
    assert stored["created_at"].startswith("2025-09-01T04:00:00")
    assert stored["updated_at"].startswith("2025-09-01T04:09:00")
    assert (stored["status"], stored["stage"], stored["posted_by"]) == (
        "failed",
        "Data Conversion",
        "Jordan Rivera",
    )
    assert stored["messages"][0]["message"] == "bad email"
    assert stored["files"][0]["name"] == "canvas_import.json"

    plain = api("GET", "/rostering_jobs/ext:hist-00000").json
    assert plain["posted_by"] == "Canvas Integrations Admin"
    assert plain["updated_at"].startswith("2025-09-01T02:09:00")

    assert db.session.get(Tenant, tenant_ids["dep-a"]).job_count == 3
    html = get_page("/rostering/")
    assert html.index(result["jobs"][2]["id"]) < html.index(result["jobs"][0]["id"])
    rows = list(csv.reader(io.StringIO(get_page("/rostering/jobs.csv"), newline="")))
    assert [r[1] for r in rows[1:]] == ["hist-00002", "hist-00001", "hist-00000"]
    assert rows[1][6:] == [
        "2025-09-01T04:09:00Z",
        "2025-09-01T04:00:00Z",
        "Data Conversion",
        "Failed",
    ]


def test_the_same_import_again_stores_nothing_more(api, tenant_ids):
    body = {"jobs": [_past(n) for n in range(5)]}
    first = api("POST", "/rostering_jobs/import", body).json
    again = api("POST", "/rostering_jobs/import", body)
    assert again.status_code == 200
    assert (again.json["created"], again.json["existing"]) == (0, 5)
    assert [j["id"] for j in again.json["jobs"]] == [j["id"] for j in first["jobs"]]
    # A retry that adds jobs stores only the new ones.
    more = api("POST", "/rostering_jobs/import", {"jobs": [_past(n) for n in range(7)]})
    assert (more.status_code, more.json["created"], more.json["existing"]) == (201, 2, 5)
    assert _stored(tenant_ids["dep-a"]) == 7
    assert db.session.get(Tenant, tenant_ids["dep-a"]).job_count == 7


def test_a_stored_id_with_other_values_refuses_the_whole_import(api, tenant_ids):
    api("POST", "/rostering_jobs/import", {"jobs": [_past(0)]})
    response = api(
        "POST", "/rostering_jobs/import", {"jobs": [_past(1), _past(0, status="failed")]}
    )
    assert response.status_code == 409
    assert "hist-00000" in response.json["message"]
    assert _stored(tenant_ids["dep-a"]) == 1
    assert api("GET", "/rostering_jobs/ext:hist-00000").json["status"] == "completed"


@pytest.mark.parametrize(
    ("jobs", "field"),
    [
        ([], "jobs"),
        ([_past(0), _past(0)], "body"),
        ([_past(0, status="in_progress")], "jobs.0.status"),
        ([_past(0, created_at="2025-09-01T02:00:00")], "jobs.0.created_at"),
        ([_past(0, updated_at="2025-08-01T00:00:00Z")], "jobs.0"),
        ([_past(0, created_at="2999-01-01T00:00:00Z", updated_at=None)], "jobs.0.created_at"),
        ([_past(0), _past(1, status="completed", stage="Queued")], "jobs.1"),
        ([_past(0, sync_request_id=3)], "jobs.0.sync_request_id"),
        ([_past(n) for n in range(1001)], "jobs"),
    ],
)
def test_bad_imports_name_the_problem_and_store_nothing(api, tenant_ids, jobs, field):
    response = api("POST", "/rostering_jobs/import", {"jobs": jobs})
    assert response.status_code == 422
    assert field in [p["field"] for p in response.json["problems"]]
    assert _stored(tenant_ids["dep-a"]) == 0


def test_an_oversized_file_in_any_imported_job_is_413(app, api, tenant_ids):
    big = '"' + "x" * app.config["JOB_FILE_MAX_BYTES"] + '"'
    body = {"jobs": [_past(0), _past(1, files=[{"name": "big.json", "content": big}])]}
    response = api("POST", "/rostering_jobs/import", body)
    assert response.status_code == 413
    assert response.json["problems"][0]["field"] == "jobs.1.files.0.content"
    assert _stored(tenant_ids["dep-a"]) == 0


def test_imports_stay_in_the_tokens_institution(api, tenant_ids):
    api("POST", "/rostering_jobs/import", {"jobs": [_past(0)]})
    # The same external id elsewhere is another institution's own job.
    other = api(
        "POST", "/rostering_jobs/import", {"jobs": [_past(0, status="failed")]}, as_="dep-b"
    )
    assert other.status_code == 201
    assert api("GET", "/rostering_jobs/ext:hist-00000").json["status"] == "completed"
    assert api("GET", "/rostering_jobs/ext:hist-00000", as_="dep-b").json["status"] == "failed"
    assert _stored(tenant_ids["dep-a"]) == _stored(tenant_ids["dep-b"]) == 1


def test_racing_imports_store_each_job_once(tool_url, api_tokens, tenant_ids):
    """Four agents send overlapping imports at the same moment over real HTTP: each is
    answered as if it had been alone, and every job is stored exactly once."""
    headers = {"Authorization": f"Bearer {api_tokens['dep-a']}"}
    url = f"{tool_url}/api/v1/rostering_jobs/import"
    bodies = [{"jobs": [_past(n) for n in range(k * 50, k * 50 + 200)]} for k in range(4)]

    def agent(body: dict[str, Any]) -> Callable[[], tuple[int, dict[str, Any]]]:
        def send() -> tuple[int, dict[str, Any]]:
            response = requests.post(url, json=body, headers=headers, timeout=60)
            return response.status_code, response.json()

        return send

    answers = race(*(agent(body) for body in bodies), timeout=120)
    # 200 for an agent whose jobs the others had all stored already.
    assert {status for status, _ in answers} <= {200, 201}, answers
    assert sum(result["created"] for _, result in answers) == 350
    assert all(result["created"] + result["existing"] == 200 for _, result in answers)
    db.session.expire_all()
    assert _stored(tenant_ids["dep-a"]) == 350
    assert db.session.get(Tenant, tenant_ids["dep-a"]).job_count == 350

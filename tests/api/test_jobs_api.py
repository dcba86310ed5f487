"""Jobs through the API: created, replayed, updated, finalised, and attacked."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from lti_app.extensions import db
from lti_app.rostering.models import RosteringJob

IMPORT_JSON = '{"workflow_state": "imported", "data": {"counts": {"users": 4}}}'


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(RosteringJob))


def test_create_a_job(api, job_body):
    response = api("POST", "/rostering_jobs", job_body)
    assert response.status_code == 201
    job = response.json
    assert job["external_id"] == "sync-2026-11-26-0200"
    assert job["posted_by"] == "Canvas Integrations Admin"
    assert (job["trigger"], job["status"], job["stage"]) == ("scheduled", "in_progress", "Queued")
    assert job["stage_history"][0]["stage"] == "Queued"
    assert job["created_at"].endswith("Z") or job["created_at"].endswith("+00:00")


def test_the_same_create_again_is_a_harmless_retry(api, job_body):
    first = api("POST", "/rostering_jobs", job_body)
    again = api("POST", "/rostering_jobs", job_body)
    assert again.status_code == 200
    assert again.json["id"] == first.json["id"]
    assert _count() == 1


def test_another_body_for_a_stored_external_id_is_a_conflict(api, job_body):
    api("POST", "/rostering_jobs", job_body)
    response = api("POST", "/rostering_jobs", {**job_body, "sis_type": "Banner"})
    assert response.status_code == 409
    assert _count() == 1
    assert api("GET", "/rostering_jobs/ext:sync-2026-11-26-0200").json["sis_type"] == "OneRoster"


def test_external_ids_are_unique_per_institution_only(api, job_body):
    assert api("POST", "/rostering_jobs", job_body).status_code == 201
    assert api("POST", "/rostering_jobs", job_body, as_="dep-b").status_code == 201


def test_a_sync_walks_through_its_stages_to_completion(api, job_body):
    job = api("POST", "/rostering_jobs", job_body).json
    stamps = [job["updated_at"]]
    for stage in ("Roster Extract", "Data Conversion", "Canvas Import"):
        time.sleep(0.01)
        response = api("PATCH", f"/rostering_jobs/{job['id']}", {"stage": stage})
        assert response.status_code == 200
        stamps.append(response.json["updated_at"])
    done = api(
        "PATCH",
        f"/rostering_jobs/{job['id']}",
        {
            "status": "completed",
            "change_counts": {"users": {"created": 3, "updated": 9, "deleted": 0}},
            "files": [{"name": "canvas_import.json", "content": IMPORT_JSON}],
        },
    ).json
    assert done["status"] == "completed" and done["stage"] == ""
    assert [s["stage"] for s in done["stage_history"]] == [
        "Queued",
        "Roster Extract",
        "Data Conversion",
        "Canvas Import",
    ]
    assert done["files"] == [{"name": "canvas_import.json", "content": IMPORT_JSON}]
    assert done["change_counts"]["users"] == {"created": 3, "updated": 9, "deleted": 0}
    assert sorted(stamps) == stamps and len(set(stamps)) == len(stamps)


def test_a_failed_sync_keeps_its_stage_and_messages(api, job_body):
    job = api("POST", "/rostering_jobs", job_body).json
    failed = api(
        "PATCH",
        f"/rostering_jobs/ext:{job['external_id']}",
        {
            "status": "failed",
            "stage": "Data Conversion",
            "messages": [
                {
                    "severity": "error",
                    "file": "enrollments.csv",
                    "row": 12,
                    "message": "Course SIS ID BIO-101 not found",
                }
            ],
        },
    ).json
    assert (failed["status"], failed["stage"]) == ("failed", "Data Conversion")
    assert failed["messages"][0]["row"] == 12


@pytest.mark.parametrize("final", ["completed", "warning", "failed"])
def test_final_statuses_stay_final(api, job_body, final):
    job = api("POST", "/rostering_jobs", {**job_body, "status": final, "stage": ""}).json
    for status in ("in_progress", *({"completed", "warning", "failed"} - {final})):
        response = api("PATCH", f"/rostering_jobs/{job['id']}", {"status": status})
        assert response.status_code == 409, status
    assert api("GET", f"/rostering_jobs/{job['id']}").json["status"] == final


def test_a_completed_job_takes_no_stage(api, job_body):
    job = api("POST", "/rostering_jobs", {**job_body, "status": "completed", "stage": ""}).json
    response = api("PATCH", f"/rostering_jobs/{job['id']}", {"stage": "Canvas Import"})
    assert response.status_code == 422
    assert response.json["problems"] == [
        {"field": "stage", "message": "a completed job has no stage"}
    ]


def test_updates_replace_messages_and_files_so_retries_are_harmless(api, job_body):
    job = api("POST", "/rostering_jobs", job_body).json
    update = {
        "messages": [{"severity": "warning", "message": "one"}],
        "files": [{"name": "a.json", "content": "[1]"}],
    }
    api("PATCH", f"/rostering_jobs/{job['id']}", update)
    again = api("PATCH", f"/rostering_jobs/{job['id']}", update).json
    assert len(again["messages"]) == 1 and len(again["files"]) == 1


def _snapshot(api, job_id):
    return api("GET", f"/rostering_jobs/{job_id}").json


BAD_BODIES = [
    ({}, "external_id"),
    ({"external_id": "x"}, "sis_type"),
    ({"external_id": 5, "sis_type": "OneRoster"}, "external_id"),
    ({"external_id": "x", "sis_type": "OneRoster", "status": "done"}, "status"),
    (
        {"external_id": "x", "sis_type": "OneRoster", "status": "completed", "stage": "Queued"},
        "body",
    ),
    (
        {"external_id": "x", "sis_type": "OneRoster", "change_counts": {"users": {"created": -1}}},
        "change_counts.users.created",
    ),
    (
        {
            "external_id": "x",
            "sis_type": "OneRoster",
            "messages": [{"severity": "fatal", "message": "m"}],
        },
        "messages.0.severity",
    ),
    (
        {
            "external_id": "x",
            "sis_type": "OneRoster",
            "files": [{"name": "a.json", "content": "{nope"}],
        },
        "files.0.content",
    ),
    ({"external_id": "x", "sis_type": "OneRoster", "surprise": 1}, "surprise"),
    ([1, 2, 3], "body"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_create_bodies_list_each_problem_and_store_nothing(api, body, field):
    response = api("POST", "/rostering_jobs", body)
    assert response.status_code == 422
    assert field in [p["field"] for p in response.json["problems"]]
    assert _count() == 0


@pytest.mark.parametrize(
    "update",
    [
        {"status": "done"},
        {"stage": 7},
        {},
        {"messages": "no"},
        {"change_counts": {"u": 1}},
        {"files": [{"name": "", "content": "{}"}]},
    ],
)
def test_bad_updates_leave_the_job_exactly_as_it_was(api, job_body, update):
    job = api("POST", "/rostering_jobs", job_body).json
    before = _snapshot(api, job["id"])
    response = api("PATCH", f"/rostering_jobs/{job['id']}", update)
    assert response.status_code == 422
    assert response.json["problems"]
    assert _snapshot(api, job["id"]) == before


def test_body_that_is_not_json_is_400(api, job_body):
    job = api("POST", "/rostering_jobs", job_body).json
    before = _snapshot(api, job["id"])
    response = api(
        "PATCH",
        f"/rostering_jobs/{job['id']}",
        data="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert _snapshot(api, job["id"]) == before


def test_body_that_is_not_declared_json_is_415(api):
    response = api(
        "POST",
        "/rostering_jobs",
        data="external_id=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415


@pytest.mark.parametrize("app_overrides", [{"JOB_FILE_MAX_BYTES": 1000}])
def test_json_file_over_the_limit_is_413_and_stores_nothing(api, job_body):
    big = '{"x": "' + "y" * 2000 + '"}'
    response = api(
        "POST", "/rostering_jobs", {**job_body, "files": [{"name": "big.json", "content": big}]}
    )
    assert response.status_code == 413
    assert response.json["problems"][0]["field"] == "files.0.content"
    assert _count() == 0


@pytest.mark.parametrize("app_overrides", [{"MAX_CONTENT_LENGTH": 10_000}])
def test_body_over_the_limit_is_413(api, job_body):
    response = api("POST", "/rostering_jobs", {**job_body, "sis_type": "x" * 20_000})
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "none"),
        ({"Authorization": "Bearer sisi_wrong"}, "wrong"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "basic"),
    ],
)
def test_without_a_valid_token_everything_is_401(client, headers, why):
    for method, path in (
        ("GET", "/rostering_jobs"),
        ("POST", "/rostering_jobs"),
        ("GET", "/schedule"),
        ("GET", "/sync_requests"),
    ):
        response = client.open("/api/v1" + path, method=method, headers=headers, json={})
        assert response.status_code == 401, (why, path)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_another_institutions_job_is_404_and_untouched(api, job_body):
    job = api("POST", "/rostering_jobs", job_body).json
    assert api("GET", f"/rostering_jobs/{job['id']}", as_="dep-b").status_code == 404
    assert api("GET", f"/rostering_jobs/ext:{job['external_id']}", as_="dep-b").status_code == 404
    response = api("PATCH", f"/rostering_jobs/{job['id']}", {"status": "failed"}, as_="dep-b")
    assert response.status_code == 404
    assert api("GET", f"/rostering_jobs/{job['id']}").json["status"] == "in_progress"
    assert api("GET", "/rostering_jobs", as_="dep-b").json["data"] == []


def test_list_newest_first_with_a_cursor_that_covers_everything_once(api):
    ids = []
    for n in range(7):
        ids.append(
            api("POST", "/rostering_jobs", {"external_id": f"j{n}", "sis_type": "S"}).json["id"]
        )
    seen, cursor = [], None
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = api("GET", "/rostering_jobs", query_string=query).json
        seen += [job["id"] for job in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))


def test_list_filters_by_status_and_update_time(api):
    api("POST", "/rostering_jobs", {"external_id": "a", "sis_type": "S", "status": "failed"})
    api("POST", "/rostering_jobs", {"external_id": "b", "sis_type": "S", "status": "completed"})
    failed = api("GET", "/rostering_jobs", query_string={"status": "failed"}).json["data"]
    assert [j["external_id"] for j in failed] == ["a"]
    future = api(
        "GET", "/rostering_jobs", query_string={"updated_since": "2999-01-01T00:00:00Z"}
    ).json["data"]
    assert future == []


@pytest.mark.parametrize(
    "query",
    [
        {"status": "done"},
        {"updated_since": "yesterday"},
        {"updated_since": "2026-01-01T00:00"},
        {"cursor": "garbage"},
        {"limit": "0"},
        {"limit": "500"},
    ],
)
def test_bad_list_parameters_are_422(api, query):
    response = api("GET", "/rostering_jobs", query_string=query)
    assert response.status_code == 422
    assert response.json["problems"][0]["field"] in query


def test_sql_metacharacters_are_stored_and_returned_verbatim(api):
    nasty = "Robert'); DROP TABLE rostering_job;--"
    job = api("POST", "/rostering_jobs", {"external_id": nasty, "sis_type": nasty}).json
    assert api("GET", f"/rostering_jobs/ext:{nasty}").json["sis_type"] == nasty
    assert job["external_id"] == nasty

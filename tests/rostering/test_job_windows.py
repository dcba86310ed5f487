"""A job's JSON file and its details, each opened in a new window."""

from __future__ import annotations

import json

from lti_app.rostering.models import JobStatus

IMPORT_JSON = (
    '{"id": 4411, "workflow_state": "failed_with_messages", "data": {"counts": {"users": 12}}}'
)


def test_json_file_is_pretty_printed_with_a_raw_download(get, make_job):
    job = make_job(files=[("canvas_import.json", IMPORT_JSON)])
    html = get(f"/rostering/jobs/{job.public_id}/json").get_data(as_text=True)
    assert "canvas_import.json" in html
    pretty = json.dumps(json.loads(IMPORT_JSON), indent=2)
    assert pretty.replace('"', "&#34;") in html
    assert "Download raw file" in html
    raw = get(f"/rostering/jobs/{job.public_id}/files/0")
    assert raw.status_code == 200
    assert raw.mimetype == "application/json"
    assert raw.get_data(as_text=True) == IMPORT_JSON  # verbatim, byte for byte
    assert 'filename="canvas-import.json"' in raw.headers["Content-Disposition"]


def test_several_files_and_invalid_json_are_shown_verbatim(get, make_job):
    job = make_job(files=[("a.json", "[1, 2]"), ("b.json", "{not json")])
    html = get(f"/rostering/jobs/{job.public_id}/json").get_data(as_text=True)
    assert "a.json" in html and "b.json" in html
    assert "{not json" in html
    assert get(f"/rostering/jobs/{job.public_id}/files/1").get_data(as_text=True) == "{not json"
    assert get(f"/rostering/jobs/{job.public_id}/files/2").status_code == 404


def test_job_without_a_file_says_so(get, make_job):
    job = make_job(status=JobStatus.IN_PROGRESS)
    assert "has no JSON file yet" in get(f"/rostering/jobs/{job.public_id}/json").get_data(
        as_text=True
    )


def test_json_content_renders_inert(get, make_job):
    job = make_job(files=[("x.json", '{"name": "</code><script>alert(1)</script>"}')])
    html = get(f"/rostering/jobs/{job.public_id}/json").get_data(as_text=True)
    assert "<script>alert(1)" not in html


def test_details_explain_what_went_wrong_and_where(get, make_job):
    job = make_job(
        status=JobStatus.FAILED,
        stage="Canvas Import",
        change_counts={
            "users": {"created": 3, "updated": 40, "deleted": 1},
            "enrollments": {"created": 120, "updated": 7, "deleted": 2},
        },
        stage_history=[
            {"stage": "Queued", "at": "2026-11-20T15:00:00+00:00"},
            {"stage": "Roster Extract", "at": "2026-11-20T15:03:00+00:00"},
            {"stage": "Canvas Import", "at": "2026-11-20T15:09:00+00:00"},
        ],
        messages=[
            {
                "severity": "error",
                "file": "enrollments.csv",
                "row": 1423,
                "message": "Course SIS ID BIO-101 not found",
            },
            {
                "severity": "warning",
                "file": "users.csv",
                "row": 17,
                "message": "User 10042 has no email address",
            },
        ],
    )
    html = get(f"/rostering/jobs/{job.public_id}/details").get_data(as_text=True)
    for text in (
        "Summary",
        "Stages",
        "Change details",
        "Errors and warnings",
        "Queued",
        "Roster Extract",
        "Canvas Import",
        "Nov 20, 2026 8:09am MST",
        "Users",
        "Enrollments",
        ">120<",
        ">40<",
        "enrollments.csv",
        ">1423<",
        "Course SIS ID BIO-101 not found",
        "users.csv",
        ">17<",
        "User 10042 has no email address",
        "1 error, 1 warning",
        "Failed",
        job.external_id,
    ):
        assert text in html, text


def test_details_of_a_clean_job(get, make_job):
    job = make_job()
    html = get(f"/rostering/jobs/{job.public_id}/details").get_data(as_text=True)
    assert "reported no errors or warnings" in html
    assert "No changes were reported" in html


def test_new_windows_work_from_the_token_alone(launcher, app, make_job):
    job = make_job(files=[("canvas_import.json", IMPORT_JSON)])
    token = launcher.admin_token("dep-a")
    window = app.test_client(use_cookies=False)
    for path in (
        f"/rostering/jobs/{job.public_id}/json",
        f"/rostering/jobs/{job.public_id}/details",
    ):
        assert window.get(path, query_string={"launch_token": token}).status_code == 200


def test_unknown_job_is_404(get):
    assert get("/rostering/jobs/0123456789abcdef0123456789abcdef/details").status_code == 404
    assert get("/rostering/jobs/%27%20OR%201=1--/json").status_code == 404

"""Hostile text in every field an agent or a platform controls renders inert everywhere."""

from __future__ import annotations

import json

PAYLOADS = [
    '<script>alert("xss")</script>',
    '"><img src=x onerror=alert(1)>',
    "</code></pre><svg onload=alert(1)>",
    "javascript:alert(1)",
]


def test_payloads_in_every_field_render_inert(launcher, client, api, registered):
    for n, payload in enumerate(PAYLOADS):
        body = {
            "external_id": f"{payload}-{n}",
            "type": payload,
            "posted_by": payload,
            "trigger": "manual",
            "sis_type": payload,
            "stage": payload[:60],
            "status": "failed",
            "change_counts": {payload[:60]: {"created": 1}},
            "messages": [{"severity": "error", "file": payload, "row": 1, "message": payload}],
            "files": [{"name": payload, "content": json.dumps({"value": payload})}],
        }
        assert api("POST", "/rostering_jobs", body).status_code == 201
    api(
        "PUT",
        "/schedule",
        {
            "frequency": "hourly",
            "every_hours": 2,
            "posted_by": PAYLOADS[0],
            "first_run": "2026-01-01T00:00:00Z",
        },
    )
    # The admin's own name comes from the platform's id_token.
    token = launcher.admin_token("dep-a", name=PAYLOADS[1], account=PAYLOADS[0])
    client.post("/rostering/sync_requests", data={"launch_token": token})
    client.post("/rostering/schedule/pause", data={"launch_token": token})

    page = client.get("/rostering/", query_string={"launch_token": token})
    bodies = [page.get_data(as_text=True)]
    jobs = api("GET", "/rostering_jobs").json["data"]
    for job in jobs:
        for view in ("json", "details"):
            response = client.get(
                f"/rostering/jobs/{job['id']}/{view}", query_string={"launch_token": token}
            )
            assert response.status_code == 200
            bodies.append(response.get_data(as_text=True))
    for body in bodies:
        for payload in PAYLOADS[:3]:
            assert payload not in body
        for tag in ("<script>alert", "<img src=x", "<svg onload"):
            assert tag not in body
        assert 'href="javascript:' not in body

    # Raw files and API answers are served as JSON, never as HTML.
    raw = client.get(
        f"/rostering/jobs/{jobs[0]['id']}/files/0", query_string={"launch_token": token}
    )
    assert raw.mimetype == "application/json"
    assert raw.headers["X-Content-Type-Options"] == "nosniff"
    assert raw.headers["Content-Disposition"].startswith("attachment;")
    assert api("GET", "/rostering_jobs").mimetype == "application/json"

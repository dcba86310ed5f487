"""Every row Canvas refused, read from the stand-in's SIS Import Errors API over real HTTP and
kept as the job's messages: paging and resuming (across a worker killed midway), Canvas's own
split of errors and warnings, the 30-day boundary, a token without the scope, fairness between
institutions, the Details window's pages and CSV, and the API's cursor (the alerts' count of
the rows: tests/alerts/test_mirrored_imports.py)."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from lti_app.canvas import connections
from lti_app.canvas.models import ErrorRead, ReadPhase
from lti_app.dev.standin import sis_import
from lti_app.extensions import db
from lti_app.rostering.models import JobEvent, JobMessage

from .conftest import canvas_launch, jobs_of

NOW = datetime.now(UTC).replace(microsecond=0)
ROOT = Path(__file__).resolve().parents[2]
CAPPED = [["enrollments.csv", "Course BIO-100 not found"], ["", "and 1233 more errors"]]


def failed_import(import_id: int, *, ended_ago: timedelta = timedelta(hours=1), **options):
    """A failed import whose JSON carries Canvas's capped list; it ended ``ended_ago``."""
    return sis_import(
        import_id,
        NOW - ended_ago - timedelta(minutes=4),
        state="failed_with_messages",
        errors=options.pop("errors", CAPPED),
        **options,
    )


def stored(job_id: int) -> list[JobMessage]:
    return list(
        db.session.scalars(
            select(JobMessage).where(JobMessage.job_id == job_id).order_by(JobMessage.id)
        )
    )


def error_requests(canvas) -> list[dict[str, str]]:
    return [query for path, query in canvas.standin.requests if path.endswith("/errors")]


def test_1234_rows_read_in_13_pages_and_stored_once_across_a_worker_killed_midway(
    canvas, connect, poll, tenant_ids, database_url, time_machine
):
    canvas.standin.put("1", failed_import(7001))
    canvas.standin.add_errors(7001, failures=1234)
    connect()

    # A worker process, killed (SIGKILL) while Canvas is answering the eighth page.
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": database_url}
    env["CANVAS_LEASE_SECONDS"] = "1"
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "canvas", "poll"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def kill_on_the_eighth_page(path: str, query: dict[str, str]) -> None:
        if path.endswith("/errors") and query.get("page") == "8":
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)

    canvas.standin.on_request = kill_on_the_eighth_page
    try:
        worker.wait(60)
    finally:
        worker.kill()
    canvas.standin.on_request = None
    assert worker.returncode == -signal.SIGKILL
    (job,) = jobs_of(tenant_ids["dep-a"])
    assert len(stored(job.id)) == 700  # seven pages committed, the eighth never
    # The dead worker's lease runs out (its second), here at once.
    time_machine.move_to(datetime.now(UTC) + timedelta(seconds=1.1))

    poll()

    rows = stored(job.id)
    assert len(rows) == 1234
    assert sorted(m.position for m in rows) == list(range(1234))  # each row once
    assert {m.severity for m in rows} == {"error"}
    assert {m.source for m in rows} == {"canvas"}
    assert "and 1233 more errors" not in {m.message for m in rows}  # the capped list is gone
    assert rows[0].row == 2 and rows[0].row_info == "BIO-100,U10000,student,active"
    read = db.session.get(ErrorRead, job.id)
    db.session.refresh(read)
    assert (read.phase, read.pages) == (ReadPhase.DONE, 13)
    # Fourteen requests: thirteen pages, one of them asked twice (the killed worker's), and the
    # whole list never (the import counts no warnings).
    pages = [q.get("page", "1") for q in error_requests(canvas)]
    assert pages == [str(n) for n in range(1, 9)] + [str(n) for n in range(8, 14)]
    assert all(q.get("failure") == "true" for q in error_requests(canvas))


def test_canvas_split_makes_errors_and_warnings_and_the_details_window_counts_them_by_file(
    canvas, connect, poll, tenant_ids, launcher, client
):
    canvas.standin.put("1", failed_import(7002))
    canvas.standin.add_errors(7002, failures=30, warnings=170)
    canvas.standin.errors[7002][5]["file"] = "users.csv"  # a warning in another file
    canvas.standin.errors[7002][5]["row_info"] = '=HYPERLINK("http://x")'
    connect()

    poll()

    (job,) = jobs_of(tenant_ids["dep-a"])
    rows = stored(job.id)
    listed = canvas.standin.errors[7002]
    assert len(rows) == 200
    assert sum(m.severity == "error" for m in rows) == 30
    by_text = {m.message: m.severity for m in rows}
    assert all(by_text[r["message"]] == ("error" if r["failure"] else "warning") for r in listed)

    token = launcher.admin_token("dep-a")
    page = client.get(
        f"/rostering/jobs/{job.public_id}/details", query_string={"launch_token": token}
    ).get_data(as_text=True)
    assert "30 errors, 170 warnings." in page
    assert '<code>enrollments.csv</code></th><td class="num">30</td><td class="num">169' in page
    assert '<code>users.csv</code></th><td class="num">0</td><td class="num">1</td>' in page
    assert page.count('<tr class="message') == 100  # a page of 100
    assert 'rel="next"' in page and 'rel="prev"' not in page
    assert "Download errors (CSV)" in page

    answer = client.get(
        f"/rostering/jobs/{job.public_id}/messages.csv", query_string={"launch_token": token}
    )
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert table[0] == ["File", "Row", "Severity", "Message", "Row text"]
    assert len(table) == 201
    # The failures first, then the warnings, each in Canvas's order.
    first_failure = next(r for r in listed if r["failure"])
    assert table[1][:3] == ["enrollments.csv", str(first_failure["row"]), "error"]
    assert table[31][2] == "warning"
    assert '\'=HYPERLINK("http://x")' in {line[4] for line in table}  # never a formula


def test_the_details_window_pages_by_100_forward_and_back(
    canvas, connect, poll, tenant_ids, launcher, client
):
    canvas.standin.put("1", failed_import(7003))
    canvas.standin.add_errors(7003, failures=250)
    connect()
    poll()
    (job,) = jobs_of(tenant_ids["dep-a"])
    ids = [m.id for m in stored(job.id)]
    token = launcher.admin_token("dep-a")

    def rows_of(**query) -> tuple[list[str], str]:
        page = client.get(
            f"/rostering/jobs/{job.public_id}/details",
            query_string={"launch_token": token, **query},
        ).get_data(as_text=True)
        return [line for line in page.splitlines() if '<td class="num">' in line], page

    _, second = rows_of(after=ids[99])
    assert second.count('<tr class="message') == 100
    assert f"Course BIO-{100 + 100} not found" in second  # the 101st row first
    assert 'rel="prev"' in second and 'rel="next"' in second
    _, third = rows_of(after=ids[199])
    assert third.count('<tr class="message') == 50 and 'rel="next"' not in third
    _, back = rows_of(before=ids[200])
    assert back.count('<tr class="message') == 100 and f"U{10_000 + 100}" in back
    # Nonsense positions are pages, never errors.
    for nonsense in ("-5", str(2**70), "abc"):
        response = client.get(
            f"/rostering/jobs/{job.public_id}/details",
            query_string={"launch_token": token, "after": nonsense},
        )
        assert response.status_code == 200


def test_the_30_day_boundary(canvas, connect, poll, tenant_ids, launcher, client):
    inside = timedelta(days=29, hours=23)
    outside = timedelta(days=30, hours=1)
    canvas.standin.put("1", failed_import(7004, ended_ago=inside))
    canvas.standin.put("1", failed_import(7005, ended_ago=outside))
    canvas.standin.add_errors(7004, failures=3)
    canvas.standin.add_errors(7005, failures=3)
    connect()

    poll()

    jobs = {job.canvas_sis_import_id: job for job in jobs_of(tenant_ids["dep-a"])}
    assert [m.position for m in stored(jobs[7004].id)] == [0, 1, 2]
    kept = stored(jobs[7005].id)
    assert [m.message for m in kept] == ["Course BIO-100 not found", "and 1233 more errors"]
    assert db.session.get(ErrorRead, jobs[7005].id).phase == ReadPhase.KEPT
    assert not [q for q in error_requests(canvas) if "/7005/" in str(q)]
    assert len(error_requests(canvas)) == 1  # only the newer import's one page was asked for

    token = launcher.admin_token("dep-a")
    page = client.get(
        f"/rostering/jobs/{jobs[7005].public_id}/details", query_string={"launch_token": token}
    ).get_data(as_text=True)
    assert "Canvas keeps error rows for 30 days" in page
    assert "and 1233 more errors" in page


def test_a_token_without_the_errors_scope_mirrors_on_and_asks_for_a_reconnect(
    canvas, connect, poll, tenant_ids, launcher, client, runner
):
    canvas.standin.add_history("1", 2)
    canvas.standin.put("1", failed_import(7006))
    canvas.standin.add_errors(7006, failures=5)
    connection = connect(access_token=canvas.standin.issue_token(errors_scope=False))

    (outcome,) = poll().values()

    assert outcome == "ok: 3 job(s) changed"  # the imports are mirrored all the same
    db.session.refresh(connection)
    assert connection.errors_scope_missing and connection.state == "active"
    job = next(j for j in jobs_of(tenant_ids["dep-a"]) if j.canvas_sis_import_id == 7006)
    assert [m.message for m in stored(job.id)] == [m for _, m in CAPPED]
    asked = len(error_requests(canvas))
    assert asked == 1

    # No retry storm: later polls do not ask for the rows again.
    connection.next_poll_at = datetime.now(UTC)
    db.session.commit()
    poll()
    assert len(error_requests(canvas)) == asked

    status = runner.invoke(args=["canvas", "status"]).output
    assert "lacks the SIS Import Errors scope" in status
    token = launcher.admin_token("dep-a")
    # A token made by hand: the operator renews it; Rostering says so in Settings' words.
    for path in ("/rostering/", "/rostering/settings"):
        page = client.get(path, query_string={"launch_token": token}).get_data(as_text=True)
        assert "Ask your SIS Integration operator to reconnect with a token that can read" in page
    details = client.get(
        f"/rostering/jobs/{job.public_id}/details", query_string={"launch_token": token}
    ).get_data(as_text=True)
    assert "to keep every error row" in details

    # Connected again with the scope: the rows are read.
    connect(access_token=canvas.standin.issue_token())
    poll()
    assert len(stored(job.id)) == 5
    assert db.session.get(ErrorRead, job.id).phase == ReadPhase.DONE


def test_an_oauth_connection_without_the_scope_is_offered_a_reconnect(
    canvas, connect, poll, launcher, client
):
    connections.add_api_key(canvas.base_url, canvas.standin.client_id, canvas.standin.client_secret)
    canvas.standin.put("1", failed_import(7007))
    canvas.standin.add_errors(7007, failures=1)
    connect(
        method="oauth",
        access_token=canvas.standin.issue_token(errors_scope=False),
        refresh_token="refresh",
    )
    poll()
    token = canvas_launch(launcher, canvas)
    page = client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)
    assert "Reconnect to Canvas to keep every error row" in page and "Open Settings</a>" in page
    page = client.get("/rostering/settings", query_string={"launch_token": token}).get_data(True)
    assert "Reconnect to Canvas to keep every error row" in page
    assert "Reconnect to Canvas</button>" in page.replace(
        ' <span class="sr-only">(opens in a new window)</span>', ""
    )


def test_50000_rows_at_one_institution_never_delay_anothers_new_import(
    canvas, connect, poll, tenant_ids
):
    canvas.standin.put("1", failed_import(8001))
    canvas.standin.add_errors(8001, failures=50_000)
    canvas.standin.put("2", failed_import(8002))
    canvas.standin.add_errors(8002, failures=40, warnings=10)
    connect("dep-a", account="1")
    connect("dep-b", account="2")

    outcomes = poll()  # one pass over both

    assert all(outcome.startswith("ok") for outcome in outcomes.values())
    (big,) = jobs_of(tenant_ids["dep-a"])
    (small,) = jobs_of(tenant_ids["dep-b"])
    assert len(stored(small.id)) == 50  # B's import whole in the same pass
    assert len(stored(big.id)) == 2000  # A's: twenty pages, the rest on later passes
    read = db.session.get(ErrorRead, big.id)
    assert read.reading and read.pages == 20


def test_the_api_answers_the_first_100_messages_and_a_cursor_for_the_rest(
    canvas, connect, poll, tenant_ids, api
):
    canvas.standin.put("1", failed_import(7009))
    canvas.standin.add_errors(7009, failures=250)
    connect()
    poll()
    (job,) = jobs_of(tenant_ids["dep-a"])

    shown = api("GET", f"/rostering_jobs/{job.public_id}").get_json()
    assert len(shown["messages"]) == 100 and shown["messages_next"]
    assert shown["messages"][0]["row_info"] == "BIO-100,U10000,student,active"
    seen = [m["row"] for m in shown["messages"]]
    cursor = shown["messages_next"]
    while cursor:
        page = api("GET", f"/rostering_jobs/{job.public_id}/messages?cursor={cursor}").get_json()
        seen += [m["row"] for m in page["data"]]
        cursor = page["next_cursor"]
    assert seen == list(range(2, 252))  # every row once, in order

    bad = api("GET", f"/rostering_jobs/{job.public_id}/messages?cursor=nope")
    assert bad.status_code == 422 and bad.get_json()["problems"][0]["field"] == "cursor"
    assert api("GET", f"/rostering_jobs/{job.public_id}/messages?limit=0").status_code == 422
    # Another institution's token: as if the job did not exist.
    assert api("GET", f"/rostering_jobs/{job.public_id}/messages", as_="dep-b").status_code == 404


def test_another_institutions_admin_sees_none_of_the_rows(
    canvas, connect, poll, tenant_ids, launcher, client
):
    canvas.standin.put("1", failed_import(7010))
    canvas.standin.add_errors(7010, failures=3)
    connect()
    poll()
    (job,) = jobs_of(tenant_ids["dep-a"])
    token = launcher.admin_token("dep-b")
    for path in ("details", "messages.csv"):
        response = client.get(
            f"/rostering/jobs/{job.public_id}/{path}", query_string={"launch_token": token}
        )
        assert response.status_code == 404
        assert "BIO-100" not in response.get_data(as_text=True)


def test_disconnecting_midway_tells_the_news_the_rows_were_holding_back(
    canvas, connect, poll, tenant_ids
):
    connection = connect()
    poll()  # the (empty) history: from now on, news is told
    canvas.standin.put("1", failed_import(7011))
    canvas.standin.add_errors(7011, failures=3000)
    connection.next_poll_at = datetime.now(UTC)
    db.session.commit()
    poll()  # twenty pages of thirty read; the news waits for the rest
    (job,) = jobs_of(tenant_ids["dep-a"])
    assert db.session.scalar(select(func.count()).select_from(JobEvent)) == 0

    connections.disconnect(tenant_ids["dep-a"])

    assert db.session.scalar(select(func.count()).select_from(JobEvent)) == 1
    assert not db.session.get(ErrorRead, job.id).reading
    assert len(stored(job.id)) == 2000  # what was read stays

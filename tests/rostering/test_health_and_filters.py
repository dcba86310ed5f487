"""Sync health, the 30-day chart, the filters and the live-status check, against the stored
jobs; the tally they read is checked against a recount of the rows after every kind of write."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from lti_app.extensions import db
from lti_app.rostering import canvas_imports, health, sync, writing
from lti_app.rostering.models import JobStatus, RosteringJob, Trigger
from lti_app.rostering.tally import TOTAL, JobTally, bucket_of
from lti_app.tab.templating import day_label

CUSTOM = "https://purl.imsglobal.org/spec/lti/claim/custom"
DENVER = ZoneInfo("America/Denver")


def stored_tally() -> Counter:
    return Counter(
        {
            (t.tenant_id, t.bucket, t.status, t.trigger): t.count
            for t in db.session.scalars(select(JobTally))
            if t.count
        }
    )


def recount() -> Counter:
    counts: Counter = Counter()
    for job in db.session.scalars(select(RosteringJob)):
        for bucket in (bucket_of(job.updated_at), TOTAL):
            counts[(job.tenant_id, bucket, job.status, job.trigger)] += 1
    return counts


def test_the_tally_follows_every_kind_of_write(make_job, api, tenant_ids):
    make_job(status=JobStatus.FAILED, minutes_ago=30)
    make_job("dep-b", trigger=Trigger.MANUAL, posted_by="Sam")
    created = api("POST", "/rostering_jobs", {"external_id": "live", "sis_type": "X"}).json
    assert stored_tally() == recount()
    api(
        "PATCH", f"/rostering_jobs/{created['id']}", {"status": "warning", "stage": "Canvas Import"}
    )
    assert stored_tally() == recount()
    writing.insert_jobs(
        tenant_ids["dep-a"],
        [
            writing.NewJob(
                external_id=f"bulk-{n}",
                posted_by="Canvas Integrations Admin",
                trigger=Trigger.SCHEDULED,
                sis_type="OneRoster",
                status=JobStatus.COMPLETED,
                updated_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=7 * n),
            )
            for n in range(50)
        ],
    )
    assert stored_tally() == recount()
    # An agent's job absorbing a mirrored import deletes the mirrored row.
    report = canvas_imports.ImportReport(
        import_id=5, posted_by="x", sis_type="csv", status=JobStatus.COMPLETED, stage="",
        change_counts={}, messages=[], json_text="{}",
        created_at=datetime(2026, 11, 2, tzinfo=UTC), updated_at=datetime(2026, 11, 2, tzinfo=UTC),
    )  # fmt: skip
    canvas_imports.record_imports(tenant_ids["dep-a"], [report], announce=False)
    db.session.commit()
    api("PATCH", f"/rostering_jobs/{created['id']}", {"canvas_sis_import_id": 5})
    assert stored_tally() == recount()


def test_the_chart_counts_days_in_the_admins_zone_across_a_day_boundary(make_job, tenant_ids):
    # Kiritimati is UTC+14: 09:00Z is 23:00 on the 28th there, 11:00Z is 01:00 on the 29th.
    at = datetime(2026, 11, 28, tzinfo=UTC)
    make_job(updated_at=at + timedelta(hours=9))
    make_job(updated_at=at + timedelta(hours=11), status=JobStatus.FAILED)
    make_job(updated_at=at + timedelta(hours=11, minutes=5), status=JobStatus.WARNING)
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)

    far = health.summary(tenant_ids["dep-a"], "Pacific/Kiritimati", now)
    by_day = {d.day.isoformat(): d.counts for d in far.days if d.total}
    assert by_day == {"2026-11-28": {"completed": 1}, "2026-11-29": {"failed": 1, "warning": 1}}
    assert len(far.days) == 30 and far.days[-1].day.isoformat() == "2026-11-30"
    assert day_label(far.days[-2]) == "Nov 29: 1 warning, 1 failed"
    assert far.success_rate == 33 and far.window_count("failed") == 1

    utc = health.summary(tenant_ids["dep-a"], "UTC", now)
    assert {d.day.isoformat(): d.total for d in utc.days if d.total} == {"2026-11-28": 3}


def test_the_page_shows_the_summary_and_a_labelled_chart(make_job, launcher, client):
    make_job(minutes_ago=90)
    make_job(minutes_ago=30, status=JobStatus.FAILED)
    token = launcher.admin_token("dep-a", **{CUSTOM: {"canvas_membership_roles": "Account Admin",
                                                      "user_timezone": "UTC"}})  # fmt: skip
    page = client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)
    assert "Sync health" in page and "Last successful sync" in page
    assert 'role="group"' in page and 'role="img"' not in page
    today = datetime.now(UTC)
    label = f"{today.strftime('%b')} {today.day}: 1 completed, 1 failed"
    assert f'aria-label="{label}"' in page
    assert "50%" in page  # 1 of 2 finished syncs completed


def test_an_institution_with_no_jobs_sees_an_empty_chart(launcher, client):
    token = launcher.admin_token("dep-a")
    page = client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)
    assert "No syncs yet" in page and 'role="group"' in page


def _walk(client, token, **query):
    """Every job id the list shows, page by page through the Next links, and the captions."""
    ids, captions = [], []
    response = client.get("/rostering/", query_string={"launch_token": token, **query})
    while True:
        html = response.get_data(as_text=True)
        ids += re.findall(r'data-job-id="([0-9a-f]+)"', html)
        captions.append(re.search(r"<caption>(Rostering jobs[^<]*)</caption>", html)[1])
        nxt = re.search(r'<a class="pager__item" href="([^"]+)" aria-label="Next page"', html)
        if not nxt:
            return ids, captions
        response = client.get(nxt[1].replace("&amp;", "&"))


def test_filters_over_pages_while_jobs_arrive(make_job, launcher, client, tenant_ids):
    statuses = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.WARNING]
    for n in range(90):
        make_job(minutes_ago=60 * 24 * (n % 20) + n, status=statuses[n % 3],
                 trigger=Trigger.MANUAL if n % 4 == 0 else Trigger.SCHEDULED,
                 posted_by="Sam Admin")  # fmt: skip
    token = launcher.admin_token(
        "dep-a", **{CUSTOM: {"canvas_membership_roles": "Account Admin",
                             "user_timezone": "America/Denver"}}
    )  # fmt: skip
    first = client.get("/rostering/", query_string={"launch_token": token, "status": "failed",
                                                     "per_page": 10})  # fmt: skip
    html = first.get_data(as_text=True)
    assert "Page 1 of 3 (30 failed jobs, filtered)" in html
    # More syncs arrive while the admin pages through.
    for _ in range(3):
        make_job(status=JobStatus.FAILED)
    ids, _ = _walk(client, token, status="failed", per_page=10)
    assert len(ids) == len(set(ids))
    rows = {j.public_id: j for j in db.session.scalars(select(RosteringJob))}
    assert {rows[i].status for i in ids} == {"failed"}

    # A date range in the admin's zone, with a trigger, and two statuses.
    today = datetime.now(UTC).date()
    query = {"status": ["failed", "warning"], "trigger": "manual",
             "from": (today - timedelta(days=9)).isoformat(), "to": today.isoformat()}  # fmt: skip
    ids, captions = _walk(client, token, per_page=5, **query)
    expected = [
        j for j in rows.values()
        if j.tenant_id == tenant_ids["dep-a"] and j.status in ("failed", "warning")
        and j.trigger == "manual"
        and today - timedelta(days=9) <= j.updated_at.astimezone(DENVER).date() <= today
    ]  # fmt: skip
    assert sorted(ids) == sorted(j.public_id for j in expected)
    assert f"({len(expected)} warning, failed jobs, filtered)" in captions[0]


def test_the_csv_follows_the_filter_and_says_so(make_job, launcher, client):
    make_job(status=JobStatus.FAILED, external_id="bad-1")
    make_job(status=JobStatus.COMPLETED, external_id="good-1")
    token = launcher.admin_token("dep-a")
    response = client.get("/rostering/jobs.csv",
                          query_string={"launch_token": token, "status": "failed"})  # fmt: skip
    assert "-failed-" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert [r[1] for r in rows[1:]] == ["bad-1"]
    page = client.get("/rostering/", query_string={"launch_token": token, "status": "failed"})
    assert (
        "status=failed" in re.search(r'href="([^"]*jobs.csv[^"]*)"', page.get_data(as_text=True))[1]
    )


@pytest.mark.parametrize(
    "query",
    [{"status": "exploded"}, {"from": "yesterday"}, {"trigger": "cron"}, {"from": "0001-01-01"},
     {"from": "2026-11-20", "to": "2026-11-01"}],
)  # fmt: skip
def test_a_bad_filter_value_is_a_plain_message_not_an_error(make_job, launcher, client, query):
    make_job()
    token = launcher.admin_token("dep-a")
    response = client.get("/rostering/", query_string={"launch_token": token, **query})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Some filters were left out" in html and "Clear filters" in html
    assert "(1 job)" in html  # the bad filter selects nothing away


def test_live_status_reports_what_changed_and_keeps_to_the_tenant(make_job, launcher, client):
    running = make_job(status=JobStatus.IN_PROGRESS, stage="Roster Extract")
    done = make_job(status=JobStatus.COMPLETED)
    other = make_job("dep-b", status=JobStatus.IN_PROGRESS)
    token = launcher.admin_token("dep-a")

    def live(*pairs, pending="0"):
        query = [("launch_token", token), ("pending", pending)]
        for job, seen in pairs:
            query += [("job", job.public_id), ("seen", seen)]
        return client.get("/rostering/live", query_string=query)

    quiet = live((running, "in_progress"), (done, "completed"))
    assert quiet.status_code == 200
    assert quiet.json["jobs"] == {} and quiet.json["running"] is True
    assert "health_html" not in quiet.json

    running.status, running.stage = "completed", ""
    db.session.commit()
    moved = live((running, "in_progress"), (done, "completed")).json
    assert list(moved["jobs"]) == [running.public_id]
    assert moved["jobs"][running.public_id]["announcement"] == "Roster Import completed"
    assert (
        "Sync health" not in moved["health_html"] and "Last successful sync" in moved["health_html"]
    )
    assert live((other, "in_progress")).status_code == 404
    assert client.get("/rostering/live", query_string={"job": running.public_id}).status_code == 401


def test_live_status_with_no_rows_follows_a_sync_now_request(launcher, client, tenant_ids):
    """A new institution's empty list: the page still checks while its Sync now waits, and
    hears when an agent took it and nothing waits any more."""
    token = launcher.admin_token("dep-a")
    client.post("/rostering/sync_requests", data={"launch_token": token})

    def live(pending: str):
        query = {"launch_token": token, "pending": pending}
        return client.get("/rostering/live", query_string=query).json

    waiting = live("1")
    assert waiting["pending"] is True and waiting["running"] is False
    assert waiting["jobs"] == {} and "health_html" not in waiting
    request = sync.pending_request(tenant_ids["dep-a"])
    sync.claim(tenant_ids["dep-a"], request.id, "agent-1")
    taken = live("1")
    assert taken["pending"] is False
    assert "No syncs yet" in taken["health_html"]  # the section is sent again on a change

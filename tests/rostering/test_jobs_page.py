"""The Rostering tab as an admin sees it: schedule, the jobs list, pages, refresh."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from lti_app.extensions import db
from lti_app.rostering import sync
from lti_app.rostering.models import JobStatus, SyncSchedule, Trigger


def _job_ids(html: str) -> list[str]:
    return re.findall(r'data-job-id="([0-9a-f]+)"', html)


def test_columns_and_values_of_a_job(get, make_job):
    job = make_job(
        posted_by="Priya Natarajan",
        trigger=Trigger.MANUAL,
        sis_type="PowerSchool SIS",
        status=JobStatus.FAILED,
        stage="Data Conversion",
        updated_at=datetime(2026, 11, 20, 15, 4, tzinfo=UTC),
    )
    html = get("/rostering/").get_data(as_text=True)
    for header in (
        "Type",
        "Posted By",
        "SIS Type",
        "Time Updated",
        "Stage",
        "Status",
        "JSON File",
        "Details",
    ):
        assert f">{header}" in html
    row = html[html.index(f'data-job-id="{job.public_id}"') :]
    row = row[: row.index("</tr>")]
    assert "Roster Import" in row
    assert "Priya Natarajan" in row
    assert "PowerSchool SIS" in row
    assert "Data Conversion" in row
    assert "Failed" in row
    # 15:04 UTC is 8:04am in Denver (MST), the zone the admin launched with.
    assert "Nov 20, 2026 8:04am MST" in row
    assert f"/rostering/jobs/{job.public_id}/json?launch_token=" in row
    assert f"/rostering/jobs/{job.public_id}/details?launch_token=" in row
    assert row.count('target="_blank"') == 2


@pytest.mark.parametrize(
    ("status", "label"),
    [
        (JobStatus.COMPLETED, "Completed"),
        (JobStatus.WARNING, "Warning"),
        (JobStatus.FAILED, "Failed"),
        (JobStatus.IN_PROGRESS, "In Progress"),
    ],
)
def test_every_status_is_shown_as_an_icon_and_its_word(get, make_job, status, label):
    make_job(status=status)
    html = get("/rostering/").get_data(as_text=True)
    badge = re.search(
        rf'<span class="status status--{status.value}">(.*?)</span>\s*</span>', html, re.S
    )
    assert badge, html
    assert "<svg" in badge.group(1) and 'aria-hidden="true"' in badge.group(1)
    assert f'<span class="status__text">{label}</span>' in badge.group(0)


def test_time_zone_is_named_and_utc_when_not_given(launcher, client, make_job):
    make_job(updated_at=datetime(2026, 11, 20, 15, 4, tzinfo=UTC))
    token = launcher.admin_token("dep-a", timezone=None)
    html = client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)
    assert "Times in UTC" in html
    assert "Nov 20, 2026 3:04pm UTC" in html


def test_newest_first(get, make_job):
    old = make_job(minutes_ago=60)
    new = make_job(minutes_ago=1)
    middle = make_job(minutes_ago=30)
    assert _job_ids(get("/rostering/").get_data(as_text=True)) == [
        new.public_id,
        middle.public_id,
        old.public_id,
    ]


def test_pages_cover_every_job_once_in_a_stable_order(get, make_job):
    same_time = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    jobs = [make_job(updated_at=same_time) for _ in range(30)] + [
        make_job(minutes_ago=i) for i in range(30)
    ]
    seen = []
    for page in (1, 2, 3):
        html = get("/rostering/", page=page).get_data(as_text=True)
        ids = _job_ids(html)
        assert len(ids) == (25 if page < 3 else 10)
        assert f"Page {page} of 3" in html
        seen += ids
    assert sorted(seen) == sorted(j.public_id for j in jobs)
    assert len(set(seen)) == 60
    # Stable: asking again gives the same pages.
    assert _job_ids(get("/rostering/", page=2).get_data(as_text=True)) == seen[25:50]


def test_page_navigation_links(get, make_job):
    for i in range(130):
        make_job(minutes_ago=i)
    html = get("/rostering/", page=3).get_data(as_text=True)
    nav = html[html.index('<nav class="pager"') :]
    nav = nav[: nav.index("</nav>")]
    for label in ("First page", "Previous page", "Next page", "Last page"):
        assert f'aria-label="{label}"' in nav
    assert 'aria-current="page">3<' in nav
    assert "page=1&amp;per_page=25" in nav and "page=6&amp;per_page=25" in nav
    first = get("/rostering/", page=1).get_data(as_text=True)
    assert (
        '<span class="pager__item pager__item--disabled" aria-disabled="true">« First</span>'
        in first
    )


def test_per_page_is_honoured_up_to_100(get, make_job):
    for i in range(120):
        make_job(minutes_ago=i)
    assert len(_job_ids(get("/rostering/", per_page=50).get_data(as_text=True))) == 50
    assert len(_job_ids(get("/rostering/", per_page=1000).get_data(as_text=True))) == 100
    assert len(_job_ids(get("/rostering/", per_page=0).get_data(as_text=True))) == 1


@pytest.mark.parametrize("page", ["999", "-3", "abc"])
def test_out_of_range_pages_land_on_a_real_page(get, make_job, page):
    for i in range(30):
        make_job(minutes_ago=i)
    response = get("/rostering/", page=page)
    assert response.status_code == 200
    assert _job_ids(response.get_data(as_text=True))


def test_refresh_reloads_the_same_page(get, make_job):
    for i in range(60):
        make_job(minutes_ago=i)
    html = get("/rostering/", page=2).get_data(as_text=True)
    refresh = re.search(
        r'<a class="btn" href="([^"]+)">\s*<svg[^>]*>.*?</svg>\s*Refresh', html, re.S
    )
    assert refresh
    assert "page=2" in refresh.group(1) and "launch_token=" in refresh.group(1)


def test_in_progress_job_is_announced(get, make_job):
    make_job(status=JobStatus.COMPLETED)
    assert "A sync is in progress" not in get("/rostering/").get_data(as_text=True)
    make_job(status=JobStatus.IN_PROGRESS, stage="Roster Extract")
    assert "A sync is in progress" in get("/rostering/").get_data(as_text=True)


def test_another_institutions_schedule_request_and_running_sync_stay_theirs(
    get, make_job, tenant_ids
):
    other = tenant_ids["dep-b"]
    make_job("dep-b", status=JobStatus.IN_PROGRESS, stage="Roster Extract")
    sync.request_sync(other, "Bea Other", "user-b")
    db.session.add(
        SyncSchedule(
            tenant_id=other,
            frequency="hourly",
            every_hours=6,
            first_run=datetime(2026, 9, 1, tzinfo=UTC),
        )
    )
    db.session.commit()
    html = get("/rostering/").get_data(as_text=True)
    assert "A sync is in progress" not in html
    assert "Sync requested by" not in html
    assert "No sync schedule is configured" in html


def test_empty_history_has_an_empty_state_not_an_empty_table(get):
    html = get("/rostering/").get_data(as_text=True)
    assert "No rostering jobs yet" in html
    assert '<table class="ic-table ic-table--jobs"' not in html


def test_schedule_section(get, tenant_ids):
    db.session.add(
        SyncSchedule(
            tenant_id=tenant_ids["dep-a"],
            frequency="weekly",
            weekdays=[1, 4],
            time_of_day="01:30",
            first_run=datetime(2026, 9, 1, 7, 30, tzinfo=UTC),
            timezone="America/Chicago",
        )
    )
    db.session.commit()
    html = get("/rostering/").get_data(as_text=True)
    section = html[html.index('id="schedule-heading"') : html.index('id="jobs-heading"')]
    for text in (
        "Roster Import",
        "Weekly on Mon, Thu at 01:30",
        "America/Chicago",
        "Canvas Integrations Admin",
        "Active",
        "Sep 1, 2026 2:30am CDT",
    ):
        assert text in section


def test_paused_schedule_says_so_and_has_no_next_run(get, tenant_ids):
    db.session.add(
        SyncSchedule(
            tenant_id=tenant_ids["dep-a"],
            frequency="hourly",
            every_hours=6,
            first_run=datetime(2026, 9, 1, tzinfo=UTC),
            enabled=False,
            paused_by="Jordan Rivera",
        )
    )
    db.session.commit()
    section = get("/rostering/").get_data(as_text=True)
    assert "Paused" in section and "by Jordan Rivera" in section
    assert "None while paused" in section


def test_no_schedule_is_said_plainly(get):
    assert "No sync schedule is configured" in get("/rostering/").get_data(as_text=True)


def test_page_is_accessible_in_structure(get, make_job):
    make_job()
    html = get("/rostering/").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "<caption>" in html
    assert html.count('<th scope="col">') >= 8
    assert 'aria-current="page">Rostering</a>' in html
    assert "(opens in a new window)" in html


def test_job_fields_render_inert(get, make_job):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    make_job(posted_by=payload, sis_type=payload, stage=payload, status=JobStatus.FAILED)
    html = get("/rostering/").get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def _link(html: str, label: str) -> str:
    match = re.search(rf'<a class="pager__item" href="([^"]+)" aria-label="{label}"', html)
    assert match, label
    return match.group(1).replace("&amp;", "&")


def test_next_links_never_repeat_rows_when_new_jobs_arrive(client, token, make_job):
    original = [make_job(minutes_ago=100 + i) for i in range(60)]
    first = client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)
    assert _job_ids(first) == [j.public_id for j in original[:25]]
    for _ in range(5):  # a sync finishes while the admin reads page 1
        make_job(minutes_ago=0)
    second = client.get(_link(first, "Next page")).get_data(as_text=True)
    assert _job_ids(second) == [j.public_id for j in original[25:50]]
    back = client.get(_link(second, "Previous page")).get_data(as_text=True)
    assert _job_ids(back) == [j.public_id for j in original[:25]]


def test_numbered_links_two_pages_away_seek_from_the_current_rows(get, client, make_job):
    jobs = [make_job(minutes_ago=i) for i in range(200)]
    html = get("/rostering/", page=4).get_data(as_text=True)
    assert _job_ids(html) == [j.public_id for j in jobs[75:100]]
    for number, rows in ((6, jobs[125:150]), (2, jobs[25:50]), (5, jobs[100:125])):
        link = _link(html, f"Page {number}")
        assert ("after=" in link or "before=" in link) and "skip=" in link
        assert _job_ids(client.get(link).get_data(as_text=True)) == [j.public_id for j in rows]


def test_last_page_holds_the_oldest_jobs(get, make_job):
    jobs = [make_job(minutes_ago=i) for i in range(60)]
    html = get("/rostering/", page=3).get_data(as_text=True)
    assert _job_ids(html) == [j.public_id for j in jobs[50:]]
    assert _job_ids(get("/rostering/", page=2).get_data(as_text=True)) == [
        j.public_id for j in jobs[25:50]
    ]


@pytest.mark.parametrize("cursor", ["garbage", "1.2.3", "99999999999999999999999.1", "-5.x"])
def test_nonsense_cursors_fall_back_to_the_page_number(get, make_job, cursor):
    jobs = [make_job(minutes_ago=i) for i in range(30)]
    response = get("/rostering/", page=2, after=cursor, skip=1)
    assert response.status_code == 200
    assert _job_ids(response.get_data(as_text=True)) == [j.public_id for j in jobs[25:]]


def test_the_job_count_is_kept_as_jobs_arrive(get, make_job, api, tenant_ids):
    from lti_app.rostering.reading import job_count

    for i in range(3):
        make_job(minutes_ago=i)
    api("POST", "/rostering_jobs", {"external_id": "via-api", "sis_type": "S"})
    api("POST", "/rostering_jobs", {"external_id": "via-api", "sis_type": "S"})  # a retry
    assert job_count(tenant_ids["dep-a"]) == 4
    assert job_count(tenant_ids["dep-b"]) == 0
    assert "(4 jobs)" in get("/rostering/").get_data(as_text=True)

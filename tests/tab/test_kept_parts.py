"""The parts of the Rostering tab rendered once and kept (tab/fragments.py): a kept row is the
same row for whoever looks next, with their own launch token in its links, and a row, a
language or a zone that changes is rendered afresh."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from lti_app.extensions import db
from lti_app.lti import tokens
from lti_app.rostering import approvals, sync, writing
from lti_app.rostering.models import JobStatus
from lti_app.timeutil import utcnow

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"


def page(client, token: str) -> str:
    return client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)


def tokens_in_links(html: str) -> set[str]:
    return {
        parse_qs(urlsplit(href.replace("&amp;", "&")).query)["launch_token"][0]
        for href in re.findall(r'href="(/rostering/[^"]*launch_token=[^"]*)"', html)
    }


def rows_of(html: str) -> str:
    return html[html.index("<tbody>", html.index('id="jobs-heading"')) : html.rindex("</tbody>")]


def test_a_kept_row_carries_the_launch_token_of_whoever_looks(client, launcher, make_job):
    held = make_job(status=JobStatus.IN_PROGRESS, stage="Canvas Import")
    approvals.hold(held, ["would delete 40 of 120 enrollments"], {"enrollments": {"deleted": 40}})
    for n in range(3):
        make_job(external_id=f"kept-{n}", minutes_ago=n + 1)
    db.session.commit()
    avery, blake = launcher.admin_token("dep-a"), launcher.admin_token("dep-a", name="Blake")
    seen_first, seen_second = page(client, avery), page(client, blake)
    # Every link of a view carries the one token that view handed out (a fresh one, for the
    # launch it was asked with): the rows', the held sync's Details, the tabs'.
    (first,) = tokens_in_links(seen_first)
    (second,) = tokens_in_links(seen_second)
    assert tokens.resolve(first).user_name == "Avery Admin"
    assert tokens.resolve(second).user_name == "Blake"
    # The same rows otherwise: the second view's were kept from the first.
    assert rows_of(seen_first).replace(first, "T") == rows_of(seen_second).replace(second, "T")
    assert "LAUNCH-TOKEN-SLOT" not in seen_first + seen_second
    details = f"/rostering/jobs/{held.public_id}/details?launch_token={second}"
    assert seen_second.count(f'href="{details}"') == 2  # its row and its hold


def test_a_row_that_changes_is_shown_as_it_now_is(client, launcher, make_job, tenant_ids):
    job = make_job(status=JobStatus.IN_PROGRESS, stage="Data Conversion")
    token = launcher.admin_token("dep-a")
    assert 'data-status="in_progress"' in page(client, token)
    writing.update_job(job, writing.JobChanges(status=JobStatus.FAILED, stage="Canvas Import"))
    db.session.commit()
    shown = page(client, token)
    assert f'data-job-id="{job.public_id}" data-status="failed"' in shown
    assert 'data-status="in_progress"' not in shown


def test_a_kept_row_follows_the_admins_language_and_zone(client, launcher, make_job):
    job = make_job(status=JobStatus.WARNING, updated_at=utcnow() - timedelta(hours=3))
    english = rows_of(page(client, launcher.admin_token("dep-a")))
    spanish = rows_of(page(client, launcher.admin_token(
        "dep-a", **{CLAIM + "launch_presentation": {"locale": "es"}})))  # fmt: skip
    tokyo = rows_of(page(client, launcher.admin_token("dep-a", timezone="Asia/Tokyo")))
    assert "Warning" in english and "Advertencia" in spanish and "Advertencia" not in english
    assert "MST" in english or "MDT" in english
    assert "JST" in tokyo
    assert job.public_id in english and job.public_id in spanish and job.public_id in tokyo


def test_a_kept_part_follows_its_data_and_who_looks(client, launch_as, make_job, tenant_ids):
    tenant_id = tenant_ids["dep-a"]
    sync.save_schedule(
        tenant_id,
        {"frequency": "daily", "time_of_day": "02:00", "first_run": utcnow(), "timezone": "UTC"},
    )
    held = make_job(status=JobStatus.IN_PROGRESS, stage="Canvas Import")
    approvals.hold(held, ["would delete 40 of 120 enrollments"], {"enrollments": {"deleted": 40}})
    db.session.commit()
    acting, looking = launch_as("import_sis,manage_sis"), launch_as("read_sis", name="Blake")
    sync_now = 'type="submit">Sync now</button>'
    before = page(client, acting)
    assert "Pause schedule" in before and ">Approve<" in before and sync_now in before
    # The same parts for one who may only look: no Pause, no Approve, no Sync now.
    seen = page(client, looking)
    assert "Pause schedule" not in seen and ">Approve<" not in seen and sync_now not in seen
    assert "would delete 40 of 120 enrollments" in seen
    # The schedule paused and the hold decided: the parts are rendered afresh.
    sync.set_paused(tenant_id, True, "Avery Admin")
    approvals.decide(held, approve=True, by="Avery Admin")
    after = page(client, acting)
    assert "Resume schedule" in after and "Pause schedule" not in after
    assert "would delete 40 of 120 enrollments" not in after


def test_the_kept_header_names_whoever_looks_and_the_tab_they_are_on(client, launch_as):
    avery, blake = launch_as(), launch_as(name="Blake Admin")
    rostering = page(client, avery)
    settings = client.get("/rostering/settings", query_string={"launch_token": blake})
    activity = client.get("/rostering/activity", query_string={"launch_token": avery})
    seen = page(client, blake)
    assert "Signed in as Avery Admin" in rostering and "Signed in as Blake Admin" in seen
    assert "Avery" not in seen
    assert 'aria-current="page">Rostering<' in rostering
    assert 'aria-current="page">Settings<' in settings.get_data(as_text=True)
    assert 'aria-current="page">Activity<' in activity.get_data(as_text=True)
    assert seen.count('aria-current="page"') == 1
    # The account's name, and the institution's beside it where Canvas names them apart.
    assert "Alpha College" in seen


def test_the_kept_buttons_download_and_refresh_what_the_admin_is_looking_at(
    client, launcher, make_job
):
    for n in range(3):
        make_job(external_id=f"listed-{n}", status=JobStatus.FAILED if n else JobStatus.COMPLETED)
    token = launcher.admin_token("dep-a")

    def links(query: dict[str, object]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        html = client.get("/rostering/", query_string={"launch_token": token, **query})
        text = html.get_data(as_text=True).replace("&amp;", "&")
        download = re.search(r'href="(/rostering/jobs\.csv[^"]*)" download', text)
        refresh = re.search(
            r'href="(/rostering/[^"]*)">\s*<svg[^>]*>.*?</svg>\s*Refresh', text, re.S
        )
        assert download and refresh
        return parse_qs(urlsplit(download[1]).query), parse_qs(urlsplit(refresh[1]).query)

    download, refresh = links({})
    assert "status" not in download and refresh["page"] == ["1"]
    download, refresh = links({"status": "failed", "per_page": 1, "page": 2})
    assert download["status"] == ["failed"]
    assert refresh["status"] == ["failed"] and refresh["page"] == ["2"]
    assert refresh["per_page"] == ["1"]

"""Term rollover: sync blackouts (Next Run skips them, across a daylight-saving change too; the
API says which; the guard holds a sync run anyway; Sync now asks first; the alerts tell the day
before and when one ends; every refusal), a one-time allowance (a 30 % deletion held before,
let through during, held after its time or its syncs, never releasing a sync held before), and
additions only (skip_deletes in the guard's answer and the reference agent's import to the
stand-in Canvas; an import that deleted anyway is an anomaly). The CLI's side of each."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from examples.sis_agent import Api, Canvas, run_sync
from lti_app.activity.models import Activity
from lti_app.alerts import guard, recipients
from lti_app.alerts.models import AlertSettings
from lti_app.canvas import connections
from lti_app.canvas import worker as canvas_worker
from lti_app.dev.standin import sis_import
from lti_app.extensions import db
from lti_app.lti.models import Tenant
from lti_app.rostering import blackouts, sync
from lti_app.rostering.models import JobEvent, RosteringJob, SyncBlackout, SyncRequest
from lti_app.timeutil import utcnow
from lti_app.worker import alerts_tick

TODAY = utcnow().date()


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


@pytest.fixture
def scheduled(tenant_ids):
    """Alpha College syncs daily at 02:00 in America/Denver."""
    sync.save_schedule(
        tenant_ids["dep-a"],
        {"frequency": "daily", "time_of_day": "02:00", "timezone": "America/Denver",
         "first_run": datetime(2026, 1, 1, tzinfo=UTC)},
    )  # fmt: skip
    return sync.get_schedule(tenant_ids["dep-a"])


def institution_a(registered) -> list[str]:
    """The CLI options naming the first institution."""
    return ["--issuer", registered.issuer, "--client-id", registered.client_id,
            "--deployment-id", "dep-a"]  # fmt: skip


def add(
    tenant_id: int,
    start: date,
    end: date,
    reason: str = "Winter break",
    zone: str = "America/Denver",
    **kw,
):
    blackout = blackouts.add(tenant_id, start, end, reason=reason, zone=zone, by="Avery", **kw)
    db.session.commit()
    return blackout


def test_next_run_skips_a_blackout_and_says_so(client, scheduled, launch_as, tenant_ids):
    add(tenant_ids["dep-a"], day(1), day(5))
    now = datetime.combine(day(1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    after = blackouts.next_run_among(scheduled, blackouts.upcoming(tenant_ids["dep-a"], now), now)
    local = after.at.astimezone(blackouts.zone_or_utc("America/Denver"))
    assert (local.date(), local.hour, local.minute) == (day(6), 2, 0)
    assert after.after.reason == "Winter break"
    tab = client.get("/rostering/", query_string={"launch_token": launch_as()}).get_data(True)
    assert "after the Winter break blackout" in tab
    settings = client.get("/rostering/settings", query_string={"launch_token": launch_as()})
    assert "Winter break: " in settings.get_data(True)  # listed among the upcoming ones


def test_next_run_after_a_blackout_keeps_the_wall_clock_across_daylight_saving(tenant_ids):
    sync.save_schedule(
        tenant_ids["dep-a"],
        {"frequency": "daily", "time_of_day": "06:00", "timezone": "America/Denver",
         "first_run": datetime(2026, 1, 1, tzinfo=UTC)},
    )  # fmt: skip
    schedule = sync.get_schedule(tenant_ids["dep-a"])
    # In 2027 Denver springs forward on 14 March: 06:00 is 13:00 UTC before, 12:00 after.
    add(tenant_ids["dep-a"], date(2027, 3, 10), date(2027, 3, 13), today=date(2027, 3, 1))
    now = datetime(2027, 3, 9, 14, 0, tzinfo=UTC)
    after = blackouts.next_run_among(schedule, blackouts.upcoming(tenant_ids["dep-a"], now), now)
    assert after.at == datetime(2027, 3, 14, 12, 0, tzinfo=UTC)
    (blackout,) = blackouts.of(tenant_ids["dep-a"])
    # Its span: local midnight to local midnight, in the winter's offset.
    assert blackout.starts_at == datetime(2027, 3, 10, 7, 0, tzinfo=UTC)
    assert blackout.ends_at == datetime(2027, 3, 14, 7, 0, tzinfo=UTC)


def test_the_api_says_which_blackouts_and_the_one_in_force(api, scheduled, tenant_ids):
    now_blackout = add(tenant_ids["dep-a"], day(-1), day(1), reason="Winter break")
    add(tenant_ids["dep-a"], day(20), day(22), reason="Spring break")
    answer = api("GET", "/schedule").get_json()
    assert [b["reason"] for b in answer["blackouts"]] == ["Winter break", "Spring break"]
    assert answer["in_blackout"]["reason"] == "Winter break"
    assert answer["in_blackout"]["starts_at"] == f"{day(-1).isoformat()}T00:00:00-07:00"
    # Its first and last minute in the institution's zone are in it; the minutes around not.
    start, end = now_blackout.starts_at, now_blackout.ends_at
    tenant_id = tenant_ids["dep-a"]
    assert blackouts.current(tenant_id, start - timedelta(minutes=1)) is None
    assert blackouts.current(tenant_id, start).id == now_blackout.id
    assert blackouts.current(tenant_id, end - timedelta(minutes=1)).id == now_blackout.id
    assert blackouts.current(tenant_id, end) is None


def _check(api, external_id: str, deleted: int, existing: int = 12_000):
    job = api(
        "POST", "/rostering_jobs", {"external_id": external_id, "sis_type": "OneRoster"}
    ).get_json()
    planned = {"enrollments": {"deleted": deleted, "existing": existing}}
    return api("POST", f"/rostering_jobs/{job['id']}/change_check", {"planned": planned})


def test_a_sync_run_during_a_blackout_is_held(api, scheduled, tenant_ids):
    add(tenant_ids["dep-a"], date(TODAY.year, 12, 1) if TODAY.month == 12 else day(-1), day(10))
    answer = _check(api, "in-blackout", deleted=0)
    assert answer.status_code == 202
    (reason,) = answer.get_json()["reasons"]
    assert reason.startswith("during the Winter break blackout (")
    (blackout,) = blackouts.of(tenant_ids["dep-a"])
    assert f"{blackout.ends_on:%b} {blackout.ends_on.day})" in reason


def test_sync_now_during_a_blackout_asks_first(client, scheduled, launch_as, tenant_ids):
    add(tenant_ids["dep-a"], day(-1), day(2))
    token = launch_as()
    asked = client.post("/rostering/sync_requests", data={"launch_token": token})
    assert asked.status_code == 409
    assert "Ask for a sync anyway?" in asked.get_data(as_text=True)
    assert db.session.scalar(select(SyncRequest.id)) is None
    confirmed = client.post(
        "/rostering/sync_requests", data={"launch_token": token, "confirm": "yes"}
    )
    assert confirmed.status_code == 303
    assert db.session.scalar(select(SyncRequest.id)) is not None


def test_the_day_before_and_the_end_are_told_once_each(scheduled, tenant_ids, smtp):
    tenant_id = tenant_ids["dep-a"]
    recipients.add_email(tenant_id, "ops@alpha.example.edu", events=None, locale="en", added_by="A")
    recipients.add_email(
        tenant_id, "quiet@alpha.example.edu", events=["failed"], locale="en", added_by="A"
    )
    blackout = add(tenant_id, day(2), day(4))
    assert blackouts.notice(blackout.starts_at - timedelta(days=2)) == 0  # not yet
    assert blackouts.notice(blackout.starts_at - timedelta(hours=20)) == 1
    assert blackouts.notice(blackout.starts_at - timedelta(hours=19)) == 0  # once
    assert blackouts.notice(blackout.ends_at - timedelta(minutes=1)) == 0
    assert blackouts.notice(blackout.ends_at) == 1
    assert blackouts.notice(blackout.ends_at + timedelta(days=1)) == 0
    for _ in range(3):
        alerts_tick("test-worker")
    assert [str(m["To"]) for m in smtp.inbox.messages] == ["ops@alpha.example.edu"] * 2
    bodies = [m.get_body(("plain",)).get_content() for m in smtp.inbox.messages]
    assert "The Winter break blackout starts tomorrow" in bodies[0]
    assert "The Winter break blackout has ended: scheduled syncs run again." in bodies[1]
    assert {str(m["Subject"]) for m in smtp.inbox.messages} == {
        "SIS Integration · Alpha College: Sync blackout"
    }


@pytest.mark.parametrize(
    ("start", "end", "said"),
    [
        (3, 1, "The blackout ends before it starts."),
        (-5, -1, "That range is over"),
        (1, 400, "A blackout can be a year long at most."),
        (9, 12, "It overlaps the Winter break blackout"),
    ],
)
def test_every_refusal_says_why_and_stores_nothing(
    client, scheduled, launch_as, tenant_ids, start, end, said
):
    add(tenant_ids["dep-a"], day(10), day(14))
    form = {"launch_token": launch_as(), "from": day(start).isoformat(), "to": day(end).isoformat()}
    answer = client.post("/rostering/blackouts", data=form)
    assert answer.status_code == 422
    assert said in answer.get_data(as_text=True)
    assert len(blackouts.of(tenant_ids["dep-a"])) == 1
    assert db.session.scalar(select(Activity.id)) is None


def test_at_most_20_blackouts(client, scheduled, launch_as, tenant_ids):
    for n in range(20):
        add(tenant_ids["dep-a"], day(10 * n + 1), day(10 * n + 2), reason=f"b{n}")
    form = {"launch_token": launch_as(), "from": day(300).isoformat(), "to": day(301).isoformat()}
    answer = client.post("/rostering/blackouts", data=form)
    assert answer.status_code == 422 and "20 blackouts at most" in answer.get_data(as_text=True)


def test_the_operators_blackout_commands(runner, scheduled, registered, tenant_ids):
    who = institution_a(registered)
    added = runner.invoke(
        args=[
            "schedule",
            "blackout",
            "add",
            *who,
            "--from",
            day(3).isoformat(),
            "--to",
            day(6).isoformat(),
            "--reason",
            "Winter break",
        ]
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(args=["schedule", "blackout", "list", *who]).output
    assert f"{day(3)} to {day(6)}  America/Denver  Winter break" in listed
    refused = runner.invoke(
        args=[
            "schedule",
            "blackout",
            "add",
            *who,
            "--from",
            day(4).isoformat(),
            "--to",
            day(5).isoformat(),
        ]
    )
    assert refused.exit_code != 0 and "overlaps" in refused.output
    blackout_id = db.session.scalar(select(SyncBlackout.id))
    assert (
        runner.invoke(args=["schedule", "blackout", "remove", *who, str(blackout_id)]).exit_code
        == 0
    )
    assert [r.action for r in db.session.scalars(select(Activity))] == [
        "blackout.added",
        "blackout.removed",
    ]


def test_the_reference_agent_starts_no_scheduled_sync_in_a_blackout(
    tool_url, api_tokens, scheduled, tenant_ids, client, launch_as
):
    add(tenant_ids["dep-a"], day(-1), day(2))
    agent = Api(tool_url, api_tokens["dep-a"])
    assert run_sync(agent, "OneRoster", seed=1) is None
    assert db.session.scalar(select(RosteringJob.id)) is None
    # An admin's Sync now, confirmed during the blackout, is run.
    client.post("/rostering/sync_requests", data={"launch_token": launch_as(), "confirm": "yes"})
    assert run_sync(agent, "OneRoster", seed=1, hold_timeout=5)["trigger"] == "manual"


# -- the allowance ---------------------------------------------------------------------------


def test_an_allowance_lets_a_large_sync_through_for_a_while_and_never_releases_a_held_one(
    api, client, launch_as, tenant_ids
):
    held_before = _check(api, "held-before", deleted=3600)  # 30 %
    assert held_before.status_code == 202
    token = launch_as()
    form = {
        "launch_token": token,
        "percent": "40",
        "count": "8000",
        "syncs": "2",
        "reason": "Spring term starts",
    }
    assert client.post("/rostering/alerts/allowance", data=form).status_code == 303
    shown = api("GET", "/change_guard").get_json()
    assert (shown["percent"], shown["count"]) == (40, 8000)
    assert shown["ordinary"] == {"enabled": True, "percent": 10, "count": 1000}
    assert (
        shown["allowance"]["syncs_left"] == 2
        and shown["allowance"]["reason"] == "Spring term starts"
    )

    job_ref = "ext:held-before"
    again = api(
        "POST",
        f"/rostering_jobs/{job_ref}/change_check",
        {"planned": {"enrollments": {"deleted": 3600, "existing": 12000}}},
    )
    assert again.status_code == 202  # not released by the allowance: an admin approves it
    assert _check(api, "first", deleted=3600).status_code == 200
    assert (
        _check(api, "small", deleted=3).status_code == 200
    )  # within the ordinary line: not counted
    assert _check(api, "second", deleted=3600).status_code == 200
    assert _check(api, "third", deleted=3600).status_code == 202  # its two syncs are used
    assert api("GET", "/change_guard").get_json()["allowance"] is None

    # By time: until passed, the ordinary line is back.
    guard.allow(
        tenant_ids["dep-a"],
        percent=40,
        count=8000,
        until=utcnow() + timedelta(hours=2),
        syncs=None,
        reason="r",
        by="A",
    )
    db.session.commit()
    assert _check(api, "in-time", deleted=3600).status_code == 200
    row = db.session.get(AlertSettings, tenant_ids["dep-a"])
    row.allow_until = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert _check(api, "too-late", deleted=3600).status_code == 202


def test_an_allowance_is_recorded_and_told(client, launch_as, tenant_ids, smtp):
    recipients.add_email(
        tenant_ids["dep-a"], "ops@alpha.example.edu", events=["changed"], locale="en", added_by="A"
    )
    form = {
        "launch_token": launch_as(),
        "percent": "40",
        "count": "8000",
        "until": (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "reason": "Spring term starts",
    }
    assert client.post("/rostering/alerts/allowance", data=form).status_code == 303
    too_long = {**form, "until": (datetime.now() + timedelta(days=8)).strftime("%Y-%m-%dT%H:%M")}
    assert client.post("/rostering/alerts/allowance", data=too_long).status_code == 422
    (row,) = db.session.scalars(select(Activity)).all()
    assert row.action == "guard.allowance_set" and row.after["percent"] == 40
    for _ in range(3):
        alerts_tick("test-worker")
    (message,) = smtp.inbox.messages
    assert (
        "Avery Admin allowed more for a while (Spring term starts): up to 40% · 8,000"
        in message.get_body(("plain",)).get_content()
    )


def test_the_operators_allowance_command(runner, registered, tenant_ids, api):
    who = institution_a(registered)
    done = runner.invoke(
        args=[
            "alerts",
            "allow",
            *who,
            "--percent",
            "40",
            "--count",
            "8000",
            "--syncs",
            "1",
            "--reason",
            "Rollover",
        ]
    )
    assert done.exit_code == 0, done.output
    assert api("GET", "/change_guard").get_json()["allowance"]["percent"] == 40
    assert runner.invoke(args=["alerts", "allow", *who, "--off"]).exit_code == 0
    assert api("GET", "/change_guard").get_json()["allowance"] is None


# -- additions only --------------------------------------------------------------------------


def test_additions_only_skips_deletes_instead_of_holding(api, client, launch_as):
    form = {"launch_token": launch_as(), "from": day(0).isoformat(), "to": day(7).isoformat()}
    assert client.post("/rostering/alerts/additions_only", data=form).status_code == 303
    assert api("GET", "/change_guard").get_json()["skip_deletes"] is True
    answer = _check(api, "big", deleted=6000)
    assert answer.status_code == 200
    assert answer.get_json() == {"decision": "proceed", "reasons": [], "skip_deletes": True}


def test_the_reference_agent_imports_with_skip_deletes(
    tool_url, api_tokens, canvas, runner, registered, tenant_ids
):
    who = institution_a(registered)
    assert (
        runner.invoke(
            args=[
                "alerts",
                "additions-only",
                *who,
                "--from",
                day(0).isoformat(),
                "--to",
                day(3).isoformat(),
            ]
        ).exit_code
        == 0
    )
    token = canvas.standin.issue_token()
    job = run_sync(Api(tool_url, api_tokens["dep-a"]), "OneRoster", seed=2, delete_share=0.5,
                   canvas=Canvas(canvas.base_url, token, "1"))  # fmt: skip
    (sent,) = canvas.standin.created
    assert sent["skip_deletes"] == "true" and sent["import_type"] == "instructure_csv"
    assert job["canvas_sis_import_id"] == 70_001
    assert all(c["deleted"] == 0 for c in job["change_counts"].values())


def test_an_import_that_deleted_during_additions_only_is_an_anomaly(
    canvas, tenant_ids, smtp, client, launch_as
):
    tenant_id = tenant_ids["dep-a"]
    guard.set_additions_only(tenant_id, day(-1), day(3), "UTC")
    db.session.commit()
    recipients.add_email(
        tenant_id, "ops@alpha.example.edu", events=["anomaly"], locale="en", added_by="A"
    )
    connections.connect(db.session.get(Tenant, tenant_id), base_url=canvas.base_url, account_id="1",
                        method="token", access_token=canvas.standin.issue_token(), connected_by="Op")  # fmt: skip  # noqa: E501
    canvas_worker.poll_all("test-worker")  # the first read: an empty history
    canvas.standin.put(
        "1", sis_import(8001, datetime.now(UTC) - timedelta(minutes=10), enrollments_deleted=250)
    )
    connection = connections.for_tenant(tenant_id)
    connection.next_poll_at = utcnow()
    db.session.commit()
    canvas_worker.poll_all("test-worker")
    for _ in range(3):
        alerts_tick("test-worker")
    job = db.session.scalars(
        select(RosteringJob).where(RosteringJob.canvas_sis_import_id == 8001)
    ).one()
    db.session.refresh(job)
    assert job.deleted_in_additions_only
    (message,) = smtp.inbox.messages
    assert "deleted 250 objects during additions only" in message.get_body(("plain",)).get_content()
    details = client.get(
        f"/rostering/jobs/{job.public_id}/details", query_string={"launch_token": launch_as()}
    ).get_data(True)
    assert "skip_deletes for this import: no." in details
    assert "Deleted during additions only" in details
    assert db.session.scalar(select(JobEvent.id)) is None  # the event was told

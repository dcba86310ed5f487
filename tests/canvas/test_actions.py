"""Undo and stop from the Rostering tab, against the stand-in Canvas over real HTTP with the
worker's own steps: review first, the POST stores the request, the worker sends exactly the
flags chosen, follows Canvas's Progress to its end, retries Canvas's 5xx, never sends a restore
twice (even across a worker killed after the PUT), says Canvas's refusals in plain words, and
each admin may do only what their Canvas permissions allow, in their own institution."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lti_app.alerts import stuck
from lti_app.canvas import actions
from lti_app.canvas.models import ActionKind, ActionState, CanvasAction, CanvasConnection
from lti_app.dev.standin import Fault, sis_import
from lti_app.extensions import db
from lti_app.rostering.models import JobEvent, JobMessage, RosteringJob
from lti_app.worker import alerts_tick

from .conftest import CUSTOM, jobs_of

NOW = datetime.now(UTC).replace(microsecond=0)
ROOT = Path(__file__).resolve().parents[2]
RESTORE = "restore_states"


@pytest.fixture
def app_overrides(smtp) -> dict[str, object]:
    return {
        "CANVAS_BACKOFF_SECONDS": 0.01,
        "CANVAS_TIMEOUT_SECONDS": 2,
        "CANVAS_MAX_ATTEMPTS": 3,
        "CANVAS_ACTION_POLL_SECONDS": 0,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp.port,
        "PUBLIC_URL": "https://tool.example.edu",
        "ALERT_BACKOFF_SECONDS": 0.0,
    }


def launch(launcher, canvas, deployment: str = "dep-a", permissions: str | None = None) -> str:
    """An admin's launch from the stand-in's Canvas, with the SIS permissions Canvas expanded
    (None: a launch without the field)."""
    custom = {
        "canvas_account_name": "Alpha College",
        "canvas_membership_roles": "Account Admin",
        "canvas_api_base_url": canvas.base_url,
        "canvas_root_account_id": "1",
    }
    if permissions is not None:
        custom["canvas_sis_permissions"] = permissions
    return launcher.admin_token(deployment, **{CUSTOM: custom})


def deleting_import(import_id: int = 6001, *, ended_ago: timedelta = timedelta(hours=20)):
    """Yesterday's import: it deleted 3,960 enrollments, concluded 12 courses, created 40 users."""
    return sis_import(
        import_id,
        NOW - ended_ago - timedelta(minutes=4),
        enrollments_deleted=3960,
        courses_concluded=12,
        users_created=40,
        enrollments_created=0,
    )


@pytest.fixture
def undoable(canvas, connect, poll, tenant_ids) -> RosteringJob:
    """Alpha College, connected, with yesterday's deleting import mirrored."""
    canvas.standin.restore_seconds = 0.4
    canvas.standin.put("1", deleting_import())
    connect()
    poll()
    (job,) = jobs_of(tenant_ids["dep-a"])
    return job


def work(until, rounds: int = 200) -> None:
    """The worker's Canvas actions loop, round after round, until ``until()``."""
    for _ in range(rounds):
        actions.tick("test-worker")
        db.session.expire_all()
        if until():
            return
        time.sleep(0.02)
    raise AssertionError("the action did not end")


def restore_puts(canvas) -> list[dict[str, str]]:
    return [form for path, form in canvas.standin.actions if path.endswith(RESTORE)]


def the_action() -> CanvasAction:
    db.session.expire_all()
    return db.session.scalars(select(CanvasAction)).one()


def ended() -> bool:
    return the_action().state in (ActionState.DONE, ActionState.FAILED)


def post(client, path: str, token: str, **form: str):
    return client.post(f"/rostering{path}", data={"launch_token": token, **form})


def test_the_review_shows_what_each_choice_would_do(undoable, canvas, launcher, client):
    token = launch(launcher, canvas, permissions="import_sis,manage_sis")
    listing = client.get("/rostering/", query_string={"launch_token": token}).get_data(True)
    assert "Undo…" in listing
    page = client.get(
        f"/rostering/jobs/{undoable.public_id}/restore", query_string={"launch_token": token}
    ).get_data(as_text=True)
    assert "Undo Canvas SIS import 6001" in page
    assert (
        "brings back 3,960 enrollments it deleted, 12 courses it concluded, and 1 enrollment "
        "it deactivated; deletes 40 users it created" in page
    )
    assert "brings back 3,960 enrollments it deleted</dd>" in page
    assert "brings back 12 courses it concluded</dd>" in page
    assert "Names, SIS ids, dates and logins stay as they are now." in page
    assert 'name="mode" value="deleted"' in page
    assert not canvas.standin.actions  # looking asks Canvas nothing


@pytest.mark.parametrize(
    ("mode", "batch", "sent"),
    [
        ("everything", False, {}),
        ("deleted", False, {"undelete_only": "true"}),
        ("concluded", False, {"unconclude_only": "true"}),
        ("deleted", True, {"batch_mode": "true", "undelete_only": "true"}),
    ],
)
def test_each_choice_sends_exactly_its_flags(undoable, canvas, launcher, client, mode, batch, sent):
    token = launch(launcher, canvas, permissions="manage_sis")
    form = {"mode": mode, **({"batch_mode": "on"} if batch else {})}
    answer = post(client, f"/jobs/{undoable.public_id}/restore", token, **form)
    assert answer.status_code == 303
    assert not canvas.standin.actions  # stored, not sent: the worker talks to Canvas

    work(ended)

    assert restore_puts(canvas) == [sent]
    assert the_action().state == ActionState.DONE
    document = canvas.standin.find("1", 6001)
    assert document["workflow_state"] == ("partially_restored" if sent else "restored")


def test_progress_is_followed_to_the_end_and_the_job_follows_canvas(
    undoable, canvas, launcher, client, smtp, tenant_ids
):
    from lti_app.alerts import recipients

    recipients.add_email(
        tenant_ids["dep-a"], "ops@alpha.example.edu", events=None, locale="en", added_by="A"
    )
    # Canvas's clock moves half a second a round: queued for two rounds, restoring for six,
    # then done, however fast or slow this machine runs the rounds.
    canvas_time = [0.0]
    canvas.standin.clock = lambda: canvas_time[0]
    canvas.standin.restore_seconds = 4
    token = launch(launcher, canvas, permissions="import_sis,manage_sis")
    post(client, f"/jobs/{undoable.public_id}/restore", token, mode="deleted")

    seen: list[tuple[str, str]] = []

    def watch() -> bool:
        job = db.session.get(RosteringJob, undoable.id)
        seen.append((job.status, job.stage))
        if job.status == "in_progress":  # its Time Updated is the undo's: not "no progress"
            assert stuck.notice() == 0
        canvas_time[0] += 0.5
        return ended()

    work(watch, rounds=40)

    assert ("in_progress", "Restoring") in seen or any(s.startswith("Restoring (") for _, s in seen)
    assert any(stage.startswith("Restoring (") for _, stage in seen)  # Progress's figure shown
    job = db.session.get(RosteringJob, undoable.id)
    assert (job.status, job.stage) == ("warning", "Canvas Import")  # partially_restored
    action = the_action()
    assert action.state == ActionState.DONE and action.completion == 100.0
    assert action.restored == {"enrollments": 3960}
    (event,) = db.session.scalars(select(JobEvent).where(JobEvent.kind == "restored")).all()
    assert event.facts["by"] == "Avery Admin" and event.facts["mode"] == "deleted"
    # The restore's end is no sync's news: no "failed" or "warning" event for it.
    assert db.session.scalar(select(func.count()).select_from(JobEvent)) == 1

    while alerts_tick("test-worker"):
        pass
    (message,) = smtp.inbox.messages
    assert str(message["Subject"]) == "SIS Integration · Alpha College: SIS Import was undone"
    body = message.get_body(("plain",)).get_content()
    assert (
        "Avery Admin undid SIS Import 6001 (only what it deleted): 3,960 enrollments brought back"
        in body
    )

    details = client.get(
        f"/rostering/jobs/{undoable.public_id}/details", query_string={"launch_token": token}
    ).get_data(as_text=True)
    assert "Undo: only what it deleted" in details and "3,960 enrollments" in details


def test_a_second_request_while_one_runs_sends_nothing_and_says_who(
    undoable, canvas, launcher, client
):
    first = launch(launcher, canvas, permissions="manage_sis")
    assert (
        post(client, f"/jobs/{undoable.public_id}/restore", first, mode="everything").status_code
        == 303
    )
    second = launcher.admin_token(
        "dep-a", name="Blake Admin", **{CUSTOM: {"canvas_sis_permissions": "manage_sis"}}
    )
    again = post(client, f"/jobs/{undoable.public_id}/restore", second, mode="deleted")
    assert again.status_code == 409
    assert "Avery Admin asked Canvas to undo or stop this import" in again.get_data(True)
    assert db.session.scalar(select(func.count()).select_from(CanvasAction)) == 1

    work(ended)
    assert len(restore_puts(canvas)) == 1


def test_canvas_500_then_200_is_one_undo(undoable, canvas, launcher, client):
    token = launch(launcher, canvas, permissions="manage_sis")
    post(client, f"/jobs/{undoable.public_id}/restore", token, mode="everything")
    canvas.standin.faults.append(Fault(500))

    work(ended)

    assert the_action().state == ActionState.DONE
    assert len(canvas.standin.progresses) == 1  # one undo in Canvas (the 500 did nothing)


def test_canvas_failing_every_try_is_asked_again_later_and_once_it_answers_undoes_once(
    undoable, canvas, launcher, client
):
    token = launch(launcher, canvas, permissions="manage_sis")
    post(client, f"/jobs/{undoable.public_id}/restore", token, mode="everything")
    canvas.standin.faults.extend([Fault(503)] * 3)  # every try of the first round

    actions.tick("test-worker")
    action = the_action()
    assert action.state == ActionState.PENDING and action.attempts == 1
    assert action.next_attempt_at > datetime.now(UTC)  # backing off
    action.next_attempt_at = datetime.now(UTC)
    db.session.commit()

    work(ended)
    assert the_action().state == ActionState.DONE
    assert len(canvas.standin.progresses) == 1


def test_a_worker_killed_after_the_put_resumes_by_following_the_import(
    undoable, canvas, launcher, client, database_url, time_machine
):
    token = launch(launcher, canvas, permissions="manage_sis")
    post(client, f"/jobs/{undoable.public_id}/restore", token, mode="everything")
    canvas.standin.restore_seconds = 2.0
    env = {**os.environ, "APP_ENV": "testing", "DATABASE_URL": database_url}
    env["CANVAS_LEASE_SECONDS"] = "1"
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--only", "canvas_actions"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def kill_on_the_put(path: str, query: dict[str, str]) -> None:
        if path.endswith(RESTORE):
            worker.send_signal(signal.SIGKILL)  # Canvas acts; nobody hears its answer
            worker.wait(10)

    canvas.standin.on_request = kill_on_the_put
    try:
        worker.wait(60)
    finally:
        worker.kill()
    canvas.standin.on_request = None
    assert worker.returncode == -signal.SIGKILL
    assert the_action().state == ActionState.SENDING  # sent, its answer never recorded
    # The dead worker's lease runs out (its second), here at once.
    time_machine.move_to(datetime.now(UTC) + timedelta(seconds=1.1))

    work(ended, rounds=400)

    assert len(restore_puts(canvas)) == 1  # never a second undo
    action = the_action()
    assert action.state == ActionState.DONE and action.restored
    assert canvas.standin.find("1", 6001)["workflow_state"] == "restored"


@pytest.mark.parametrize("refusal", ["scope", "not authorized 401", "not authorized 403"])
def test_canvas_refusals_end_the_action_in_plain_words_and_are_not_retried(
    canvas, connect, poll, tenant_ids, launcher, client, refusal
):
    canvas.standin.put("1", deleting_import())
    if refusal == "scope":
        token = canvas.standin.issue_token(action_scopes=False)
    else:
        token = canvas.standin.issue_token(may={"import_sis"})
        canvas.standin.newer_auth_errors = refusal.endswith("403")
    connect(access_token=token)
    poll()
    (job,) = jobs_of(tenant_ids["dep-a"])
    launch_token = launch(launcher, canvas, permissions="manage_sis")
    post(client, f"/jobs/{job.public_id}/restore", launch_token, mode="everything")

    work(ended)

    action = the_action()
    assert action.state == ActionState.FAILED
    assert len(canvas.standin.actions) == 1  # refused once, never asked again
    details = client.get(
        f"/rostering/jobs/{job.public_id}/details", query_string={"launch_token": launch_token}
    ).get_data(as_text=True)
    connection = db.session.scalars(select(CanvasConnection)).one()
    if refusal == "scope":
        assert connection.actions_scope_missing
        assert "ask your SIS Integration operator to connect again" in details
        review = client.get(
            f"/rostering/jobs/{job.public_id}/restore", query_string={"launch_token": launch_token}
        ).get_data(as_text=True)
        assert 'name="mode"' not in review  # the button is replaced by the sentence
        assert "ask your SIS Integration operator to connect again" in review
        assert len(jobs_of(tenant_ids["dep-a"])) == 1 and poll()  # mirroring goes on
    else:
        assert not connection.actions_scope_missing
        assert (
            "Canvas refused: the Canvas user this connection was made with (Test Operator) does "
            "not have the permission (user not authorized to perform that action)." in details
        )


@pytest.mark.parametrize(
    ("ended_ago", "offered"),
    [
        (timedelta(days=29, hours=23) - timedelta(minutes=5), True),
        (timedelta(days=30, hours=1), False),
    ],
)
def test_undo_is_offered_for_30_days(
    canvas, connect, poll, tenant_ids, launcher, client, ended_ago, offered
):
    canvas.standin.put("1", deleting_import(ended_ago=ended_ago))
    connect()
    poll()
    (job,) = jobs_of(tenant_ids["dep-a"])
    token = launch(launcher, canvas, permissions="manage_sis")
    review = client.get(
        f"/rostering/jobs/{job.public_id}/restore", query_string={"launch_token": token}
    ).get_data(as_text=True)
    assert ('name="mode"' in review) is offered
    assert ("Canvas keeps what it needs to undo an import for 30 days." in review) is not offered
    answer = post(client, f"/jobs/{job.public_id}/restore", token, mode="everything")
    assert answer.status_code == (303 if offered else 409)


def test_an_agent_job_without_a_canvas_import_says_why_there_is_no_undo(
    make_job, canvas, launcher, client
):
    job = make_job()
    token = launch(launcher, canvas, permissions="manage_sis")
    review = client.get(
        f"/rostering/jobs/{job.public_id}/restore", query_string={"launch_token": token}
    ).get_data(as_text=True)
    assert "did not name a Canvas SIS import, so there is nothing in Canvas to undo" in review
    assert (
        post(client, f"/jobs/{job.public_id}/restore", token, mode="everything").status_code == 409
    )


def test_stop_a_running_import(canvas, connect, poll, tenant_ids, launcher, client):
    canvas.standin.put(
        "1", sis_import(6100, NOW - timedelta(minutes=30), state="importing", progress=40)
    )
    connect()
    poll()
    (job,) = jobs_of(tenant_ids["dep-a"])
    token = launch(launcher, canvas, permissions="import_sis")
    listing = client.get("/rostering/", query_string={"launch_token": token}).get_data(True)
    assert "Stop this import…" in listing
    review = client.get(
        f"/rostering/jobs/{job.public_id}/abort", query_string={"launch_token": token}
    ).get_data(as_text=True)
    assert "Rows already imported stay in Canvas" in review
    assert "Canvas starts the next queued import 10 minutes later." in review

    assert post(client, f"/jobs/{job.public_id}/abort", token).status_code == 303
    work(ended)

    assert canvas.standin.find("1", 6100)["workflow_state"] == "aborted"
    job = db.session.get(RosteringJob, job.id)
    assert job.status == "failed"
    messages = [
        m.message for m in db.session.scalars(select(JobMessage).where(JobMessage.job_id == job.id))
    ]
    assert "Stopped by Avery Admin" in messages


def test_stop_an_import_that_finished_meanwhile_says_it_had_finished(
    canvas, connect, poll, tenant_ids, launcher, client
):
    canvas.standin.put(
        "1", sis_import(6101, NOW - timedelta(minutes=30), state="importing", progress=90)
    )
    connect()
    poll()
    (job,) = jobs_of(tenant_ids["dep-a"])
    token = launch(launcher, canvas, permissions="import_sis")
    post(client, f"/jobs/{job.public_id}/abort", token)
    canvas.standin.put("1", sis_import(6101, NOW - timedelta(minutes=30)))  # it finished

    work(ended)

    action = the_action()
    assert action.state == ActionState.FAILED
    assert action.outcome == "Canvas says this import had already finished."
    # The tab knows it now too: a second POST is refused without asking Canvas.
    poll()
    again = post(client, f"/jobs/{job.public_id}/abort", token)
    assert again.status_code == 409
    assert "already finished" in again.get_data(True)


def test_stop_queued_imports(canvas, connect, poll, tenant_ids, launcher, client):
    for n in range(2):
        canvas.standin.put(
            "1", sis_import(6200 + n, NOW - timedelta(minutes=5 - n), state="created", progress=0)
        )
    canvas.standin.put(
        "1", sis_import(6210, NOW - timedelta(minutes=9), state="importing", progress=50)
    )
    connect()
    poll()
    token = launch(launcher, canvas, permissions="import_sis")
    tab = client.get("/rostering/", query_string={"launch_token": token}).get_data(True)
    assert "Stop the 2 queued imports" in tab

    assert post(client, "/imports/abort_pending", token).status_code == 303
    work(ended)

    states = {i: canvas.standin.find("1", i)["workflow_state"] for i in (6200, 6201, 6210)}
    assert states == {6200: "aborted", 6201: "aborted", 6210: "importing"}
    jobs = {job.canvas_sis_import_id: job for job in jobs_of(tenant_ids["dep-a"])}
    assert (jobs[6200].status, jobs[6201].status, jobs[6210].status) == (
        "failed",
        "failed",
        "in_progress",
    )


def test_a_sync_with_no_progress_is_flagged_and_told_once(
    make_job, canvas, launcher, client, smtp, tenant_ids
):
    from lti_app.alerts import recipients

    recipients.add_email(
        tenant_ids["dep-a"], "ops@alpha.example.edu", events=None, locale="en", added_by="A"
    )
    make_job(status="in_progress", stage="Roster Extract", minutes_ago=200)
    make_job(status="in_progress", stage="Roster Extract", minutes_ago=30)
    token = launch(launcher, canvas)
    tab = client.get("/rostering/", query_string={"launch_token": token}).get_data(True)
    assert tab.count("No progress for 3 hours") == 1

    assert stuck.notice() == 1
    assert stuck.notice() == 0  # once per job
    while alerts_tick("test-worker"):
        pass
    (message,) = smtp.inbox.messages
    assert (
        str(message["Subject"])
        == "SIS Integration · Alpha College: Roster Import has made no progress"
    )
    assert "No progress for 3 hours." in message.get_body(("plain",)).get_content()


# -- who may ----------------------------------------------------------------------------------

PERMISSIONS = {
    "manage_sis": ("import_sis,manage_sis", "roles"),
    "import_sis only": ("import_sis", "roles"),
    "none (sub-account admin)": ("", "roles"),
    "absent, CANVAS_PERMISSIONS=roles": (None, "roles"),
    "absent, CANVAS_PERMISSIONS=require": (None, "require"),
}
# Which of undo (manage_sis) and stop (either) each may do.
MAY = {
    "manage_sis": (True, True),
    "import_sis only": (False, True),
    "none (sub-account admin)": (False, False),
    "absent, CANVAS_PERMISSIONS=roles": (True, True),
    "absent, CANVAS_PERMISSIONS=require": (False, False),
}


@pytest.mark.parametrize("who", list(PERMISSIONS))
def test_the_admins_canvas_permissions_decide(
    canvas, connect, poll, tenant_ids, launcher, client, app, who
):
    canvas.standin.put("1", deleting_import())
    canvas.standin.put(
        "1", sis_import(6300, NOW - timedelta(minutes=30), state="importing", progress=10)
    )
    connect()
    poll()
    field, setting = PERMISSIONS[who]
    app.config["CANVAS_PERMISSIONS"] = setting
    token = launch(launcher, canvas, permissions=field)
    jobs = {job.canvas_sis_import_id: job for job in jobs_of(tenant_ids["dep-a"])}
    may_undo, may_stop = MAY[who]

    review = client.get(
        f"/rostering/jobs/{jobs[6001].public_id}/restore", query_string={"launch_token": token}
    ).get_data(as_text=True)
    assert ('name="mode"' in review) is may_undo
    assert ("Needs the SIS Data – manage permission in Canvas" in review) is not may_undo
    stop = client.get(
        f"/rostering/jobs/{jobs[6300].public_id}/abort", query_string={"launch_token": token}
    ).get_data(as_text=True)
    assert ("Stop this import</button>" in stop) is may_stop

    undo = post(client, f"/jobs/{jobs[6001].public_id}/restore", token, mode="everything")
    halt = post(client, f"/jobs/{jobs[6300].public_id}/abort", token)
    queue = post(client, "/imports/abort_pending", token)
    assert undo.status_code == (303 if may_undo else 403)
    assert (halt.status_code, queue.status_code) == ((303, 303) if may_stop else (403, 403))
    if not may_undo:
        assert "Needs the SIS Data – manage permission in Canvas" in undo.get_data(True)
    kinds = set(db.session.scalars(select(CanvasAction.kind)))
    assert kinds == {
        *([ActionKind.RESTORE] if may_undo else []),
        *([ActionKind.ABORT, ActionKind.ABORT_PENDING] if may_stop else []),
    }  # a refusal stored nothing


def test_another_institutions_admin_gets_404_on_every_page_and_post(
    undoable, canvas, launcher, client
):
    token = launch(launcher, canvas, "dep-b", permissions="import_sis,manage_sis")
    for path in ("restore", "abort"):
        assert (
            client.get(
                f"/rostering/jobs/{undoable.public_id}/{path}", query_string={"launch_token": token}
            ).status_code
            == 404
        )
        assert (
            post(client, f"/jobs/{undoable.public_id}/{path}", token, mode="everything").status_code
            == 404
        )
    assert db.session.scalar(select(func.count()).select_from(CanvasAction)) == 0


def test_canvas_plain_text_400_is_its_own_words(canvas, app):
    from lti_app.canvas.client import ActionRefused, CanvasClient

    canvas.standin.put("1", deleting_import())
    client = CanvasClient(canvas.base_url, canvas.standin.issue_token(), "1", config=app.config)
    with pytest.raises(ActionRefused) as refused:
        client.restore_states(6001, batch_mode=False, undelete_only=True, unconclude_only=True)
    assert str(refused.value) == "cannot set both undelete_only and unconclude_only"
    assert client.requests == 1  # a refusal is not retried
    assert not canvas.standin.progresses

"""Alerts end to end: a job's change, the outbox, the worker, a real SMTP server and a real
webhook receiver. Who is told of what, the streak rule, and that nothing is lost or sent twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from standardwebhooks import Webhook

from lti_app.alerts import recipients
from lti_app.alerts.models import AlertDelivery, Channel, DeliveryState
from lti_app.extensions import db
from lti_app.rostering.models import JobEvent
from lti_app.timeutil import utcnow
from lti_app.worker import alerts_tick
from tests.support.race import race


def _job(api, external_id: str, **body):
    answer = api(
        "POST",
        "/rostering_jobs",
        {"external_id": external_id, "sis_type": "OneRoster", "stage": "Queued", **body},
    )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def _finish(api, job_id: str, status: str, **body):
    answer = api("PATCH", f"/rostering_jobs/{job_id}", {"status": status, **body})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def _subjects(smtp) -> list[str]:
    return [str(m["Subject"]) for m in smtp.inbox.messages]


def test_each_event_reaches_the_recipients_who_chose_it(api, smtp, add_email, worker_round):
    add_email("failures@alpha.example.edu", events=["failed"])
    add_email("everything@alpha.example.edu")

    failed = _job(api, "s1")
    _finish(api, failed["id"], "failed", stage="Canvas Import")
    worker_round()
    assert sorted(str(m["To"]) for m in smtp.inbox.messages) == [
        "everything@alpha.example.edu",
        "failures@alpha.example.edu",
    ]
    assert set(_subjects(smtp)) == {"SIS Integration · Alpha College: Roster Import failed"}

    smtp.inbox.messages.clear()
    warned = _job(api, "s2")
    _finish(api, warned["id"], "warning", stage="Canvas Import")
    worker_round()
    # After a failure, a sync that succeeds (with warnings) is a recovery, and a warning.
    assert sorted(_subjects(smtp)) == [
        "SIS Integration · Alpha College: Roster Import completed again",
        "SIS Integration · Alpha College: Roster Import completed with warnings",
    ]
    assert {str(m["To"]) for m in smtp.inbox.messages} == {"everything@alpha.example.edu"}

    smtp.inbox.messages.clear()
    fine = _job(api, "s3")
    _finish(api, fine["id"], "completed", stage="")
    worker_round()
    assert smtp.inbox.messages == []  # a plain success is no news


def test_a_streak_alerts_first_then_once_a_day_then_recovers(api, smtp, add_email, worker_round):
    add_email("ops@alpha.example.edu", events=["failed", "recovered"])
    for n in range(3):
        job = _job(api, f"f{n}")
        _finish(api, job["id"], "failed", stage="Roster Extract")
        worker_round()
    # The first failure alerted; the next two, within a day of it, did not.
    assert len(smtp.inbox.messages) == 1

    # A day later the streak goes on: one more alert, saying how long it has lasted.
    db.session.execute(
        update(AlertDelivery).values(created_at=utcnow() - timedelta(hours=25))
    )
    db.session.commit()
    job = _job(api, "f3")
    _finish(api, job["id"], "failed", stage="Roster Extract")
    worker_round()
    assert len(smtp.inbox.messages) == 2
    text = smtp.inbox.messages[-1].get_body(("plain",)).get_content()
    assert "4 failed syncs in a row since" in text

    job = _job(api, "ok")
    _finish(api, job["id"], "completed", stage="")
    worker_round()
    assert len(smtp.inbox.messages) == 3
    recovered = smtp.inbox.messages[-1]
    assert str(recovered["Subject"]).endswith("Roster Import completed again")
    assert "After 4 failed syncs since" in recovered.get_body(("plain",)).get_content()

    # Recovered once: the next success says nothing.
    job = _job(api, "ok2")
    _finish(api, job["id"], "completed", stage="")
    worker_round()
    assert len(smtp.inbox.messages) == 3


def test_an_imported_history_alerts_nobody(api, smtp, add_email, worker_round):
    add_email("ops@alpha.example.edu")
    past = (utcnow() - timedelta(days=2)).isoformat()
    answer = api(
        "POST",
        "/rostering_jobs/import",
        {
            "jobs": [
                {"external_id": f"old-{n}", "sis_type": "OneRoster", "status": "failed",
                 "stage": "Canvas Import", "created_at": past}
                for n in range(5)
            ]
        },
    )
    assert answer.status_code == 201
    assert db.session.scalar(select(func.count()).select_from(JobEvent)) == 0
    worker_round()
    assert smtp.inbox.messages == []


def test_a_job_posted_already_failed_alerts(api, smtp, add_email, worker_round):
    add_email("ops@alpha.example.edu")
    _job(api, "posted-failed", status="failed", stage="Roster Extract")
    worker_round()
    assert _subjects(smtp) == ["SIS Integration · Alpha College: Roster Import failed"]


def test_a_recipient_added_after_the_event_hears_nothing_of_it(api, smtp, add_email, worker_round):
    job = _job(api, "early")
    _finish(api, job["id"], "failed", stage="Queued")
    add_email("late@alpha.example.edu")
    worker_round()
    assert smtp.inbox.messages == []


def test_a_stopped_mail_server_loses_nothing_and_sends_nothing_twice(
    api, smtp, add_email, worker_round
):
    add_email("ops@alpha.example.edu", events=["failed", "warning"])
    add_email("ops@beta.example.edu", deployment="dep-b", events=["failed"])
    smtp.stop()
    for n in range(3):
        job = _job(api, f"down-{n}")
        _finish(api, job["id"], "warning", stage="Canvas Import")
    beta = api("POST", "/rostering_jobs", {"external_id": "b1", "sis_type": "Banner"}, as_="dep-b")
    api("PATCH", f"/rostering_jobs/{beta.get_json()['id']}", {"status": "failed"}, as_="dep-b")
    for _ in range(3):
        alerts_tick("worker-1")
    pending = db.session.scalars(select(AlertDelivery)).all()
    assert len(pending) == 4
    assert all(d.state == DeliveryState.PENDING and d.attempts >= 1 for d in pending)
    assert all("unreachable" in d.last_error for d in pending)
    row = recipients.for_tenant(pending[0].tenant_id)[0]
    assert row.last_ok is False and row.last_outcome.startswith("retrying:")

    smtp.start()  # the same port, as a restarted mail server
    worker_round()
    ids = smtp.inbox.message_ids()
    assert len(ids) == 4 and len(set(ids)) == 4
    assert sorted(ids) == sorted(f"<{d.public_id}@sis-integration>" for d in pending)
    worker_round()
    assert len(smtp.inbox.messages) == 4


def test_a_refused_address_stops_at_once_and_shows_why(api, smtp, add_email, worker_round):
    smtp.inbox.refuse["gone@alpha.example.edu"] = "550 mailbox unavailable"
    recipient = add_email("gone@alpha.example.edu")
    job = _job(api, "x")
    _finish(api, job["id"], "failed", stage="Queued")
    worker_round()
    delivery = db.session.scalars(select(AlertDelivery)).one()
    assert delivery.state == DeliveryState.FAILED and delivery.attempts == 1
    db.session.refresh(recipient)
    assert recipient.last_outcome == "failed: 550 mailbox unavailable"


def test_json_webhooks_are_signed_per_standard_webhooks(
    api, receiver, worker_round, runner, registered
):
    result = runner.invoke(
        args=[
            "alerts", "add", "--issuer", registered.issuer, "--client-id", registered.client_id,
            "--deployment-id", "dep-a", "--webhook", receiver.url + "/hooks/sis",
            "--format", "json", "--events", "failed",
        ]
    )
    assert result.exit_code == 0, result.output
    secret = next(
        line.split(": ", 1)[1] for line in result.output.splitlines() if "secret" in line
    )
    assert secret.startswith("whsec_")
    recipient_id = int(result.output.strip().splitlines()[-1])

    job = _job(api, "hooked")
    _finish(api, job["id"], "failed", stage="Canvas Import")
    worker_round()
    (request,) = receiver.requests
    body = Webhook(secret).verify(request.body, request.headers)
    assert body["type"] == "sync.failed"
    data = body["data"]
    assert data["institution"] == {"name": "Alpha College", "deployment_id": "dep-a"}
    assert data["job"]["id"] == job["id"] and data["job"]["status"] == "failed"
    assert "canvas_url" in data
    assert all("content" not in f for f in data["job"]["files"])
    # The stored URL and secret are encrypted; the list shows the URL masked.
    listed = runner.invoke(
        args=["alerts", "list", "--issuer", registered.issuer, "--client-id",
              registered.client_id, "--deployment-id", "dep-a"]
    ).output
    assert f"{recipient_id}  json" in listed and "/hooks/sis" not in listed
    row = db.session.scalars(select(recipients.AlertRecipient)).one()
    assert "hooks" not in (row.url_encrypted or "") and secret not in (row.secret_encrypted or "")


def test_a_webhook_answering_500_then_200_is_delivered_once_with_one_id(
    api, receiver, worker_round, tenant_ids
):
    recipients.add_webhook(
        tenant_ids["dep-a"], receiver.url + "/h", Channel.JSON, events=None, locale="en",
        added_by="Avery Admin",
    )
    receiver.script.append((500, {}))
    job = _job(api, "retry")
    _finish(api, job["id"], "failed", stage="Queued")
    worker_round()
    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first.headers["Webhook-Id"] == second.headers["Webhook-Id"]
    delivery = db.session.scalars(select(AlertDelivery)).one()
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempts == 2


def test_429_retry_after_is_honoured(api, receiver, tenant_ids):
    recipients.add_webhook(
        tenant_ids["dep-a"], receiver.url + "/h", Channel.SLACK, events=None, locale="en",
        added_by="Avery Admin",
    )
    receiver.script.append((429, {"Retry-After": "120"}))
    job = _job(api, "busy")
    _finish(api, job["id"], "failed", stage="Queued")
    before = utcnow()
    alerts_tick("w")
    alerts_tick("w")  # not due yet: nothing is sent again
    assert len(receiver.requests) == 1
    delivery = db.session.scalars(select(AlertDelivery)).one()
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 119 <= wait <= 125 and delivery.state == DeliveryState.PENDING


def test_slack_and_teams_bodies(api, receiver, worker_round, tenant_ids):
    for path, channel in (("/slack", Channel.SLACK), ("/teams", Channel.TEAMS)):
        recipients.add_webhook(
            tenant_ids["dep-a"], receiver.url + path, channel, events=["failed"], locale="en",
            added_by="Avery Admin",
        )
    job = _job(api, "chat")
    _finish(
        api, job["id"], "failed", stage="Canvas Import",
        messages=[{"severity": "error", "file": "users.csv", "row": 3, "message": "User 12 bad"}],
    )
    worker_round()
    bodies = {r.path: r.json() for r in receiver.requests}
    slack, teams = bodies["/slack"], bodies["/teams"]
    assert slack["text"] == "SIS Integration · Alpha College: Roster Import failed"
    assert slack["blocks"][0]["type"] == "header"
    assert "1 × users.csv: User … bad" in slack["blocks"][1]["text"]["text"]
    (attachment,) = teams["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["body"][0]["text"].endswith("failed")
    (facts,) = [block for block in card["body"] if block["type"] == "FactSet"]
    assert {"title": "Status", "value": "Failed"} in facts["facts"]
    # No signature headers on chat webhooks: they have no secret.
    assert all("Webhook-Signature" not in r.headers for r in receiver.requests)


def test_two_workers_racing_send_each_alert_once(api, smtp, tenant_ids, make_app, app):
    for n in range(8):
        recipients.add_email(
            tenant_ids["dep-a"], f"r{n}@alpha.example.edu", events=None, locale="en",
            added_by="Avery Admin",
        )
    for n in range(5):
        job = _job(api, f"race-{n}")
        _finish(api, job["id"], "failed" if n % 2 else "warning", stage="Queued")
    # Two workers' apps, made before the race (making an app is not what races here).
    apps = [make_app(**{k: app.config[k] for k in (
        "MAIL_SERVER", "MAIL_PORT", "PUBLIC_URL", "WEBHOOK_ALLOWED_HOSTS",
        "ALERT_BACKOFF_SECONDS", "MAIL_DEFAULT_SENDER")}) for _ in range(2)]

    def work(name: str, other: Any) -> Callable[[], None]:
        def deliver() -> None:
            with other.app_context():
                for _ in range(30):
                    alerts_tick(name)

        return deliver

    race(work("w0", apps[0]), work("w1", apps[1]))
    ids = smtp.inbox.message_ids()
    owed = db.session.scalar(select(func.count()).select_from(AlertDelivery))
    assert owed > 8 and len(ids) == owed and len(set(ids)) == owed

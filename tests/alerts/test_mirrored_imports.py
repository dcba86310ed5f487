"""Canvas's own SIS imports, mirrored, alert as agent jobs do: from the first poll after the
history was read, never for the history itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from lti_app.dev.standin import sis_import
from lti_app.extensions import db
from lti_app.rostering.models import JobEvent, RosteringJob
from tests.canvas.conftest import connect, poll  # noqa: F401 (fixtures)

NOW = datetime.now(UTC).replace(microsecond=0)


def test_the_first_read_of_a_history_alerts_nobody_then_news_does(
    canvas, connect, poll, smtp, add_email, worker_round  # noqa: F811
):
    add_email("ops@alpha.example.edu")
    canvas.standin.add_history("1", 20, state="failed")
    canvas.standin.put("1", sis_import(5000, NOW - timedelta(minutes=2), state="importing",
                                       progress=40))
    connect()
    poll()
    assert db.session.scalar(select(func.count()).select_from(JobEvent)) == 0
    worker_round()
    assert smtp.inbox.messages == []

    # The import that was running fails; a new one arrives already finished, with warnings.
    canvas.standin.put("1", sis_import(5000, NOW - timedelta(minutes=2), state="failed"))
    canvas.standin.put(
        "1",
        sis_import(5001, NOW - timedelta(minutes=1), state="imported_with_messages",
                   warnings=[["users.csv", "User 9 has no email"]]),
    )
    poll()
    worker_round()
    subjects = sorted(str(m["Subject"]) for m in smtp.inbox.messages)
    assert subjects == [
        "SIS Integration · Alpha College: SIS Import completed again",
        "SIS Integration · Alpha College: SIS Import completed with warnings",
        "SIS Integration · Alpha College: SIS Import failed",
    ]
    # Polling again changes nothing and tells nobody again.
    poll()
    worker_round()
    assert len(smtp.inbox.messages) == 3


def test_a_mirrored_import_that_deleted_too_much_is_flagged(
    canvas, connect, poll, smtp, add_email, worker_round, tenant_ids  # noqa: F811
):
    connect()
    poll()  # the (empty) history is read
    add_email("ops@alpha.example.edu", events=["anomaly"])
    document = sis_import(6000, NOW - timedelta(minutes=3))
    document["data"]["statistics"]["Enrollment"]["deleted"] = 1800
    canvas.standin.put("1", document)
    poll()
    worker_round()
    (alert,) = smtp.inbox.messages
    assert "deleted 1,800 enrollments, more than 1,000" in alert.get_body(("plain",)).get_content()
    job = db.session.scalars(
        select(RosteringJob).where(RosteringJob.canvas_sis_import_id == 6000)
    ).one()
    assert job.large_deletion


def test_the_alert_of_an_import_with_every_row_waits_for_the_rows_and_counts_each(
    canvas, connect, poll, smtp, add_email, worker_round  # noqa: F811
):
    connection = connect()
    poll()  # the (empty) history is read
    add_email("ops@alpha.example.edu")
    canvas.standin.put(
        "1",
        sis_import(7008, NOW - timedelta(minutes=5), state="failed_with_messages",
                   errors=[["enrollments.csv", "Course BIO-100 not found"],
                           ["", "and 1233 more errors"]]),
    )  # fmt: skip
    canvas.standin.add_errors(7008, failures=1234)
    connection.next_poll_at = datetime.now(UTC)
    db.session.commit()

    poll()  # the import, then its thirteen pages of rows, then the news
    assert db.session.scalar(select(func.count()).select_from(JobEvent)) == 1
    worker_round()

    (message,) = smtp.inbox.messages
    text = message.get_body(("plain",)).get_content()
    assert "1,234 errors" in text
    assert "and 1233 more errors" not in text
    # Counted by kind with the ids folded: one kind, every row.
    assert "1,234 × enrollments.csv: Course … not found for enrollment of …" in text

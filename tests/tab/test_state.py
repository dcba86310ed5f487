"""The institution's state as the tab reads it (tab/queries.py): one statement, whatever it has
to list."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import event

from lti_app.extensions import db
from lti_app.lti.models import Tenant
from lti_app.rostering import approvals, blackouts
from lti_app.rostering.models import JobStatus
from lti_app.tab import queries
from lti_app.timeutil import utcnow


def test_held_syncs_and_blackouts_come_in_the_one_round_trip(tenant_ids, make_job):
    tenant = db.session.get(Tenant, tenant_ids["dep-a"])
    today = utcnow().date()
    # Added out of order: the list is soonest first whatever order they were made in.
    later = blackouts.add(tenant.id, today + timedelta(days=40), today + timedelta(days=41),
                          reason="Later", zone="UTC", by="A")  # fmt: skip
    now_on = blackouts.add(tenant.id, today - timedelta(days=1), today + timedelta(days=1),
                           reason="On now", zone="UTC", by="A")  # fmt: skip
    soon = blackouts.add(tenant.id, today + timedelta(days=10), today + timedelta(days=12),
                         reason="Soon", zone="UTC", by="A")  # fmt: skip
    with time_machine.travel(utcnow() - timedelta(days=10)):  # added when it was to come
        over = blackouts.add(tenant.id, today - timedelta(days=9), today - timedelta(days=8),
                             reason="Over", zone="UTC", by="A")  # fmt: skip
    first = make_job(status=JobStatus.IN_PROGRESS, minutes_ago=5)
    second = make_job(status=JobStatus.IN_PROGRESS)
    decided = make_job(status=JobStatus.IN_PROGRESS)
    reasons, planned = ["would delete 4 of 12 enrollments"], {"enrollments": {"deleted": 4}}
    with time_machine.travel(utcnow() - timedelta(minutes=2)):  # the oldest hold
        approvals.hold(first, reasons, planned)
    for job in (second, decided):
        approvals.hold(job, reasons, planned)
    approvals.decide(decided, approve=False, by="A")
    other = make_job("dep-b", status=JobStatus.IN_PROGRESS)
    approvals.hold(other, ["would delete 1 of 2 courses"], {"courses": {"deleted": 1}})
    db.session.commit()
    expected_holds = [first.public_id, second.public_id]
    expected_blackouts = [now_on.id, soon.id, later.id]
    over_id = over.id
    db.session.expunge_all()  # nothing known before the state's statement

    statements: list[str] = []

    def count(_connection, _cursor, statement, *_) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        tenant = db.session.get(Tenant, tenant_ids["dep-a"])
        statements.clear()
        state = queries.state(tenant, utcnow())
        held = [hold.job.public_id for hold in state.holds]
        ids = [blackout.id for blackout in state.blackouts]
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    # Each once (the statement answers a row for each pair), oldest hold and soonest blackout
    # first; the held job's id read with them; another institution's hold and what is over
    # left out.
    assert held == expected_holds
    assert ids == expected_blackouts
    assert over_id not in ids
    assert state.in_blackout(utcnow()).id == expected_blackouts[0]
    assert len(statements) == 1, statements

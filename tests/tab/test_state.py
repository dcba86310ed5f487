"""The institution's state as the tab reads it (tab/queries.py): one statement, whatever it has
to list."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import event, inspect, select

from lti_app.alerts import guard
from lti_app.alerts.models import AlertSettings
from lti_app.canvas import connections
from lti_app.canvas.models import CanvasConnection
from lti_app.extensions import db
from lti_app.lti.models import Tenant
from lti_app.rostering import approvals, blackouts, retention, sync
from lti_app.rostering.models import (
    HistoryPolicy,
    JobApproval,
    JobStatus,
    SyncBlackout,
    SyncRequest,
    SyncSchedule,
)
from lti_app.tab import queries
from lti_app.timeutil import utcnow

CANVAS = "https://canvas.state.example.edu"


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
        held = [hold.public_id for hold in state.holds]
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


def test_the_states_rows_read_as_their_models_do_and_write_nothing(tenant_ids, make_job):
    """The state is read as records (extensions.Records), not loaded as entities: each reads
    every column, property and method its model has, with the same values, and none of them
    is in the session to be written back."""
    tenant = db.session.get(Tenant, tenant_ids["dep-a"])
    today = utcnow().date()
    weekly = {"frequency": "weekly", "time_of_day": "02:30", "weekdays": [1, 4]}
    sync.save_schedule(tenant.id, {**weekly, "first_run": utcnow(), "timezone": "UTC"})
    sync.request_sync(tenant.id, "Avery Admin", "user-1")
    tenant.canvas_api_base_url, tenant.canvas_root_account_id = CANVAS, "1"
    connections.connect(tenant, base_url=CANVAS, account_id="1", method="token",
                        access_token="7~state", connected_by="Avery Admin")  # fmt: skip
    guard.configure(tenant.id, enabled=True, percent=12, count=300, by="Avery Admin")
    retention.keep(tenant.id, 3, by="Avery Admin")
    blackouts.add(tenant.id, today + timedelta(days=3), today + timedelta(days=4),
                  reason="Break", zone="UTC", by="A")  # fmt: skip
    held = make_job(status=JobStatus.IN_PROGRESS)
    approvals.hold(held, ["would delete 4 of 12 enrollments"], {"enrollments": {"deleted": 4}})
    db.session.commit()

    state = queries.state(tenant, utcnow())
    loaded = {
        SyncSchedule: (state.schedule, db.session.scalar(select(SyncSchedule))),
        SyncRequest: (state.pending_request, db.session.scalar(select(SyncRequest))),
        CanvasConnection: (state.canvas.connection, db.session.scalar(select(CanvasConnection))),
        AlertSettings: (state.guard_row, db.session.scalar(select(AlertSettings))),
        HistoryPolicy: (state.policy, db.session.scalar(select(HistoryPolicy))),
        JobApproval: (state.holds[0].approval, db.session.scalar(select(JobApproval))),
        SyncBlackout: (state.blackouts[0], db.session.scalar(select(SyncBlackout))),
    }
    for model, (record, entity) in loaded.items():
        assert record is not None and entity is not None, model
        for attr in inspect(model).column_attrs:
            assert getattr(record, attr.key) == getattr(entity, attr.key), (model, attr.key)
        assert inspect(record, raiseerr=False) is None, model  # no entity: nothing to flush
    assert state.canvas.connection.needs_reconnecting is False
    assert state.holds[0].approval.expires_at(24) == loaded[JobApproval][1].expires_at(24)
    assert (state.holds[0].public_id, state.holds[0].type) == (held.public_id, held.type)
    assert state.guard.percent == 12 and state.guard.count == 300

"""Fixtures for the tab's actions: launches with the SIS permissions Canvas expands, and an
institution with something for every action to act on (no Canvas over HTTP: the worker is not
run here; what it does is tests/canvas/test_actions.py's)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from lti_app.alerts import recipients
from lti_app.alerts.models import Channel
from lti_app.api import tokens
from lti_app.canvas import connections
from lti_app.extensions import db
from lti_app.lti.models import Tenant
from lti_app.rostering import approvals, blackouts, sync
from lti_app.rostering.models import JobStatus
from lti_app.timeutil import utcnow

CUSTOM = "https://purl.imsglobal.org/spec/lti/claim/custom"
CANVAS = "https://alpha.instructure.example"
OWN_EMAIL = "avery.admin@alpha.example.edu"  # the test platform's email claim


@pytest.fixture
def app_overrides(smtp) -> dict[str, object]:
    return {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp.port,
        "PUBLIC_URL": "https://tool.example.edu",
        "WEBHOOK_ALLOWED_HOSTS": ["127.0.0.1", "hooks.example.edu"],
        # The world's Slack webhook cannot be reached from here: not again in the same test.
        "ALERT_BACKOFF_SECONDS": 60.0,
    }


@pytest.fixture
def launch_as(launcher) -> Callable[..., str]:
    """A launch token of an admin whose Canvas SIS permissions are ``permissions`` (None: the
    field absent, as from a developer key made before the tool asked for it)."""

    def launch(
        permissions: str | None = "import_sis,manage_sis",
        *,
        deployment: str = "dep-a",
        masquerading: str | None = None,
        name: str = "Avery Admin",
    ) -> str:
        custom: dict[str, str] = {
            "canvas_account_name": "Alpha College",
            "canvas_membership_roles": "Account Admin",
        }
        if permissions is not None:
            custom["canvas_sis_permissions"] = permissions
        if masquerading is not None:
            custom["canvas_masquerading_user_id"] = masquerading
        return launcher.admin_token(deployment, name=name, **{CUSTOM: custom})

    return launch


def _import(state: str, hours_ago: float) -> str:
    started = utcnow() - timedelta(hours=hours_ago)
    return json.dumps(
        {
            "id": 0,
            "workflow_state": state,
            "created_at": started.isoformat(),
            "started_at": started.isoformat(),
            "data": {"statistics": {"Enrollment": {"deleted": 40, "created": 0}}},
        }
    )


@dataclass
class World:
    """What Alpha College has for every action to act on."""

    held: str  # a held sync's public id
    own: int  # the admin's own email recipient
    other: int  # someone else's email recipient
    hook: int  # a webhook recipient
    finished_import: str  # a job of a finished Canvas import (to undo)
    running_import: str  # a job of a running Canvas import (to stop)
    token: int  # a live agent token
    blackout: int  # an upcoming sync blackout


@pytest.fixture
def world(tenant_ids, make_job) -> World:
    tenant_id = tenant_ids["dep-a"]
    tenant = db.session.get(Tenant, tenant_id)
    tenant.canvas_api_base_url, tenant.canvas_root_account_id = CANVAS, "1"
    db.session.commit()
    sync.save_schedule(
        tenant_id,
        {"frequency": "daily", "time_of_day": "02:00", "first_run": utcnow(), "timezone": "UTC"},
    )
    held = make_job(status=JobStatus.IN_PROGRESS, stage="Canvas Import")
    approvals.hold(
        held, ["would delete 4,000 of 12,000 enrollments"], {"enrollments": {"deleted": 4000}}
    )
    own = recipients.add_email(tenant_id, OWN_EMAIL, events=None, locale="en", added_by="A")
    other = recipients.add_email(tenant_id, "registrar@alpha.example.edu", events=None,
                                 locale="en", added_by="B")  # fmt: skip
    hook, _ = recipients.add_webhook(tenant_id, "https://hooks.example.edu/x", Channel.SLACK,
                                     events=None, locale="en", added_by="B")  # fmt: skip
    connections.add_api_key(CANVAS, "170000000000099", "secret")
    connections.connect(tenant, base_url=CANVAS, account_id="1", method="token",
                        access_token="7~token", connected_by="Test Operator")  # fmt: skip
    finished = make_job(canvas_sis_import_id=9001, status=JobStatus.COMPLETED,
                        files=[("canvas_sis_import.json", _import("imported", 20))])  # fmt: skip
    running = make_job(canvas_sis_import_id=9002, status=JobStatus.IN_PROGRESS,
                       stage="Canvas Import (20%)",
                       files=[("canvas_sis_import.json", _import("importing", 1))])  # fmt: skip
    token, _ = tokens.create(tenant, "OneRoster agent", created_by="the operator")
    today = utcnow().date()
    blackout = blackouts.add(tenant_id, today + timedelta(days=30), today + timedelta(days=35),
                             reason="Spring break", zone="UTC", by="A")  # fmt: skip
    db.session.commit()
    return World(held.public_id, own.id, other.id, hook.id, finished.public_id,
                 running.public_id, token.id, blackout.id)  # fmt: skip


@dataclass(frozen=True)
class Call:
    """One state-changing request of the tab, and what it needs."""

    path: str
    form: dict[str, str]
    need: str  # "act" (import_sis or manage_sis), "manage" (manage_sis)
    action: str  # the activity row it adds
    changes: bool = True  # False: it starts a flow (Connect opens Canvas's page) and no more


def calls(world: World) -> dict[str, Call]:
    """Every state-changing route behind the launch token, by endpoint, with arguments for
    this world."""
    jobs, recipients_ = "/rostering/jobs", "/rostering/alerts/recipients"
    return {
        "rostering.sync_now": Call("/rostering/sync_requests", {}, "act", "sync.requested"),
        "rostering.pause_or_resume": Call(
            "/rostering/schedule/pause", {}, "act", "schedule.paused"
        ),
        "rostering.decide": Call(
            f"/rostering/holds/{world.held}/approve", {}, "act", "hold.approved"
        ),
        "rostering.add_recipient": Call(
            recipients_,
            {"channel": "email", "address": "dean@alpha.example.edu", "events": "failed"},
            "manage",
            "alerts.recipient_added",
        ),
        "rostering.remove_recipient": Call(
            f"{recipients_}/{world.other}/remove", {}, "manage", "alerts.recipient_removed"
        ),
        "rostering.test_recipient": Call(
            f"{recipients_}/{world.hook}/test", {}, "manage", "alerts.test_sent"
        ),
        "rostering.configure_guard": Call(
            "/rostering/alerts/guard",
            {"enabled": "on", "percent": "20", "count": "2000"},
            "manage",
            "guard.changed",
        ),
        "rostering.keep_history": Call(
            "/rostering/history", {"years": "3"}, "manage", "history.changed"
        ),
        "rostering.restore": Call(
            f"{jobs}/{world.finished_import}/restore",
            {"mode": "deleted"},
            "manage",
            "import.restore_requested",
        ),
        "rostering.abort_import": Call(
            f"{jobs}/{world.running_import}/abort", {}, "act", "import.abort_requested"
        ),
        "rostering.abort_pending": Call(
            "/rostering/imports/abort_pending", {}, "act", "import.abort_pending_requested"
        ),
        "rostering.create_token": Call(
            "/rostering/tokens", {"name": "Nightly agent"}, "manage", "token.created"
        ),
        "rostering.revoke_token": Call(
            f"/rostering/tokens/{world.token}/revoke", {}, "manage", "token.revoked"
        ),
        "rostering.add_blackout": Call(
            "/rostering/blackouts",
            {"from": _day(60), "to": _day(62), "reason": "Winter break"},
            "act",
            "blackout.added",
        ),
        "rostering.remove_blackout": Call(
            f"/rostering/blackouts/{world.blackout}/remove", {}, "act", "blackout.removed"
        ),
        "rostering.allow_more": Call(
            "/rostering/alerts/allowance",
            {"percent": "40", "count": "8000", "syncs": "2", "reason": "Spring term starts"},
            "manage",
            "guard.allowance_set",
        ),
        "rostering.additions_only": Call(
            "/rostering/alerts/additions_only",
            {"from": _day(0), "to": _day(14)},
            "manage",
            "guard.additions_only_set",
        ),
        "canvas.connect": Call("/canvas/connect", {}, "manage", "canvas.connect_started", False),
        "canvas.disconnect": Call("/canvas/disconnect", {}, "manage", "canvas.disconnected"),
    }


def _day(days_ahead: int) -> str:
    return (utcnow().date() + timedelta(days=days_ahead)).isoformat()


def snapshot(*, leave_out: tuple[str, ...] = ("activity", "lti_launch")) -> dict[str, Any]:
    """Every row of every table (but ``leave_out``), to tell whether anything changed."""
    db.session.rollback()
    return {
        table.name: sorted(map(repr, db.session.execute(table.select()).all()))
        for table in db.metadata.sorted_tables
        if table.name not in leave_out
    }

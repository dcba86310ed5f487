"""The activity trail and the SIS agent tokens section: one's own alert address for anyone, the
look-only tab, acting as someone else, tokens made in the tab working at once and dying at once,
the Activity tab's pages, filters and CSV, the operator's export, retention, the CLI's rows, the
agent's rows, tenancy, and the ``settings.changed`` alert."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

from sqlalchemy import event, func, select, update

from lti_app import activity
from lti_app.activity.models import Activity
from lti_app.api.models import ApiToken
from lti_app.extensions import db
from lti_app.worker import alerts_tick

from .conftest import OWN_EMAIL

ISSUER_ARGS = ["--client-id", "10000000000001", "--deployment-id", "dep-a"]


def rows(tenant_id: int | None = None) -> list[Activity]:
    db.session.rollback()
    stmt = select(Activity).order_by(Activity.id)
    if tenant_id is not None:
        stmt = stmt.where(Activity.tenant_id == tenant_id)
    return list(db.session.scalars(stmt))


def page(client, path: str, token: str, **query) -> str:
    answer = client.get(path, query_string={"launch_token": token, **query})
    assert answer.status_code == 200, answer.status_code
    return answer.get_data(as_text=True)


def test_anyone_who_gets_in_adds_tests_and_removes_their_own_address_only(
    client, world, launch_as, smtp
):
    token = launch_as("")  # a sub-account admin: no SIS permission at all
    tab = page(client, "/rostering/settings", token)
    assert "Add your own address" in tab and OWN_EMAIL in tab
    own = {"launch_token": token, "channel": "email", "address": OWN_EMAIL.upper()}
    own["events"] = "failed"
    other = {**own, "address": "dean@alpha.example.edu"}
    # Their own (already a recipient in this world): remove it, add it back.
    assert (
        client.post(
            f"/rostering/alerts/recipients/{world.own}/remove", data={"launch_token": token}
        ).status_code
        == 303
    )
    assert client.post("/rostering/alerts/recipients", data=own).status_code == 303
    assert client.post("/rostering/alerts/recipients", data=other).status_code == 403
    assert [(r.action, r.subject or r.tried) for r in rows()] == [
        ("alerts.recipient_removed", OWN_EMAIL),
        ("alerts.recipient_added", OWN_EMAIL.upper()),
        ("denied", "rostering.add_recipient"),
    ]


def test_a_look_only_admin_sees_what_each_control_needs_and_no_live_button(
    client, world, launch_as
):
    def both_tabs(token: str) -> str:
        return page(client, "/rostering/", token) + page(client, "/rostering/settings", token)

    look = both_tabs(launch_as(""))
    act = both_tabs(launch_as("import_sis"))
    manage = both_tabs(launch_as("import_sis,manage_sis"))
    live = {
        "Sync now": "/rostering/sync_requests",
        "Pause": "/rostering/schedule/pause",
        "Approve": f"/rostering/holds/{world.held}/approve",
        "Guard": "/rostering/alerts/guard",
        "History": "/rostering/history",
        "Create token": "/rostering/tokens",
        "Disconnect": "/canvas/disconnect",
    }
    for name, action in live.items():
        assert f'action="{action}"' not in look, name
        assert f'action="{action}"' in manage, name
    assert 'action="/rostering/sync_requests"' in act and 'action="/rostering/tokens"' not in act
    assert "Needs the SIS Data – import or SIS Data – manage permission in Canvas" in look
    assert "Needs the SIS Data – manage permission in Canvas" in act
    assert "Needs the SIS Data" not in manage


def test_acting_as_someone_else_is_recorded_as_the_real_user(client, world, launch_as):
    token = launch_as(masquerading="42")
    client.post("/rostering/sync_requests", data={"launch_token": token})
    (row,) = rows()
    assert (row.actor, row.actor_id, row.acting_as) == (
        "Canvas user 42",
        "42",
        "Avery Admin (user-admin)",
    )
    assert "acting as Avery Admin (user-admin)" in page(client, "/rostering/activity", token)


def test_a_token_made_in_the_tab_works_at_once_and_dies_at_once(
    client, world, launch_as, runner, tenant_ids
):
    token = launch_as()
    made = client.post("/rostering/tokens", data={"launch_token": token, "name": "Nightly agent"})
    assert made.status_code == 201
    shown = made.get_data(as_text=True)
    plain = re.search(r'id="new-token"[^>]*value="(sisi_[^"]+)"', shown)[1]
    assert (
        f'curl -H "Authorization: Bearer {plain}" https://localhost/api/v1/schedule'
        in shown
    )
    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/schedule", headers=headers).status_code == 200
    # The operator's list shows it, made by the admin; the tab shows the operator's.
    listed = runner.invoke(
        args=["api-token", "list", "--issuer", world_issuer(client), *ISSUER_ARGS]
    ).output
    assert "Nightly agent" in listed and "by Avery Admin" in listed
    assert "<td>OneRoster agent</td>" in page(client, "/rostering/settings", token)

    made_id = db.session.scalar(select(ApiToken.id).where(ApiToken.name == "Nightly agent"))
    assert (
        client.post(f"/rostering/tokens/{made_id}/revoke", data={"launch_token": token}).status_code
        == 303
    )
    assert client.get("/api/v1/schedule", headers=headers).status_code == 401
    assert [r.action for r in rows()] == ["token.created", "token.revoked"]


def world_issuer(client) -> str:
    from lti_app.lti.models import Platform

    return db.session.scalars(select(Platform.issuer)).one()


def test_last_used_is_kept_to_the_minute_with_at_most_one_write_a_minute(
    client, world, api, tenant_ids
):
    writes: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.startswith("UPDATE api_token") and "last_used_at IS NULL OR" in statement:
            writes.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(5):
            assert api("GET", "/schedule").status_code == 200
        assert len(writes) == 1  # five requests, one write
        used = db.session.scalars(
            # Each institution has a "test agent" token: the one the requests presented.
            select(ApiToken.last_used_at).where(
                ApiToken.name == "test agent", ApiToken.tenant_id == tenant_ids["dep-a"]
            )
        ).one()
        assert used.second == 0 and used.microsecond == 0  # to the minute
        db.session.execute(update(ApiToken).values(last_used_at=used - timedelta(minutes=2)))
        db.session.commit()
        api("GET", "/schedule")
        assert len(writes) == 2  # a minute later, one more
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_at_most_20_live_tokens(client, world, launch_as):
    token = launch_as()
    for n in range(19):  # the world has one already
        assert (
            client.post(
                "/rostering/tokens", data={"launch_token": token, "name": f"agent {n}"}
            ).status_code
            == 201
        )
    refused = client.post("/rostering/tokens", data={"launch_token": token, "name": "one more"})
    assert refused.status_code == 422
    assert "20 live tokens" in refused.get_data(as_text=True)


def test_the_activity_tab_pages_filters_and_downloads(client, world, launch_as, tenant_ids):
    tenant_id = tenant_ids["dep-a"]
    for _ in range(55):
        activity.record(
            tenant_id, "sync.requested", actor=activity.Actor("person", "Avery Admin", "u1")
        )
    activity.record(tenant_id, "guard.changed", before={"percent": 10}, after={"percent": 20},
                    actor=activity.Actor("person", "=HYPERLINK(\"http://x\")", "u2"))  # fmt: skip
    db.session.commit()
    token = launch_as()
    first = page(client, "/rostering/activity", token)
    assert first.count("<code>sync.requested</code>") == 49  # 50 a page, the newest first
    assert first.index("guard.changed") < first.index("sync.requested")
    assert 'aria-current="page">Activity' in first
    older = re.search(r'href="([^"]*after=[^"]+)"', first)[1].replace("&amp;", "&")
    second = client.get(older).get_data(as_text=True)
    assert second.count("<code>sync.requested</code>") == 6
    filtered = page(client, "/rostering/activity", token, action="guard.changed")
    assert filtered.count("<tr>") == 2  # the header and the one row
    by_person = page(client, "/rostering/activity", token, person="Avery Admin")
    assert "guard.changed" not in by_person.split("<tbody>")[1]

    download = client.get("/rostering/activity.csv", query_string={"launch_token": token})
    table = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert table[0][:5] == ["Time (UTC)", "Who", "Canvas user or token id", "Acting as", "Action"]
    assert len(table) == 1 + 56
    assert table[-1][1] == '\'=HYPERLINK("http://x")'  # formula cells neutralised
    assert table[-1][7] == "percent=10" and table[-1][8] == "percent=20"


def test_another_institutions_admin_sees_none_of_it(client, world, launch_as):
    client.post("/rostering/sync_requests", data={"launch_token": launch_as()})
    beta = launch_as(deployment="dep-b")
    assert "sync.requested" not in page(client, "/rostering/activity", beta)
    csv_text = client.get("/rostering/activity.csv", query_string={"launch_token": beta}).get_data(
        True
    )
    assert csv_text.count("\n") == 1  # the header only
    assert "<td>OneRoster agent</td>" not in page(client, "/rostering/", beta)
    revoke = client.post(f"/rostering/tokens/{world.token}/revoke", data={"launch_token": beta})
    assert revoke.status_code == 404
    assert db.session.get(ApiToken, world.token).revoked_at is None


def test_the_operators_export_and_the_command_lines_own_rows(runner, world, tenant_ids, client):
    issuer = world_issuer(client)
    who = ["--issuer", issuer, *ISSUER_ARGS]
    commands = [
        ["alerts", "guard", *who, "--off"],
        ["alerts", "add", *who, "--email", "ops@alpha.example.edu"],
        ["history", "keep", *who, "--years", "2"],
        ["api-token", "create", *who, "--name", "CLI agent"],
        ["canvas", "disconnect", *who],
    ]
    for args in commands:
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    done = rows()
    assert [r.action for r in done] == [
        "guard.changed", "alerts.recipient_added", "history.changed", "token.created",
        "canvas.disconnected",
    ]  # fmt: skip
    assert {r.actor for r in done} == {"operator (command line)"}
    assert done[0].after == {"enabled": False, "percent": 10, "count": 1000}

    exported = runner.invoke(args=["activity", "export", *who]).output.splitlines()
    assert [json.loads(line)["action"] for line in exported] == [r.action for r in done]
    later = (done[2].at + timedelta(microseconds=1)).isoformat()
    since = runner.invoke(args=["activity", "export", "--since", later]).output.splitlines()
    assert [json.loads(line)["action"] for line in since] == [
        "token.created",
        "canvas.disconnected",
    ]
    assert "secret" not in "".join(exported) and "7~token" not in "".join(exported)


def test_an_agents_schedule_change_and_claim_are_recorded_its_job_writes_are_not(
    client, world, api, launch_as
):
    client.post("/rostering/sync_requests", data={"launch_token": launch_as()})
    schedule = {"frequency": "hourly", "every_hours": 6, "first_run": "2026-12-01T00:00:00Z"}
    assert api("PUT", "/schedule", schedule).status_code == 200
    request_id = api("GET", "/sync_requests?status=pending").get_json()["data"][0]["id"]
    assert api("POST", f"/sync_requests/{request_id}/claim").status_code == 200
    assert (
        api("POST", "/rostering_jobs", {"external_id": "j1", "sis_type": "OneRoster"}).status_code
        == 201
    )
    agent_rows = [r for r in rows() if r.actor_kind == "token"]
    assert [(r.action, r.actor) for r in agent_rows] == [
        ("schedule.changed", "test agent"),
        ("sync_request.claimed", "test agent"),
    ]
    assert agent_rows[0].before["frequency"] == "daily" and agent_rows[0].after["every_hours"] == 6


def test_downloads_are_recorded(client, world, launch_as):
    token = launch_as("")
    client.get("/rostering/jobs.csv", query_string={"launch_token": token}).get_data()
    client.get(
        f"/rostering/jobs/{world.held}/messages.csv", query_string={"launch_token": token}
    ).get_data()
    assert [r.action for r in rows()] == ["csv.downloaded", "errors_csv.downloaded"]


def test_activity_is_kept_its_days_and_only_the_purge_deletes_it(app, client, world, launch_as):
    statements: list[tuple[str, bool]] = []
    purging = [False]

    def watch(conn, cursor, statement, *args):
        if re.search(r"\bactivity\b", statement) and not statement.lstrip().upper().startswith(
            ("SELECT", "WITH")
        ):
            statements.append((statement.split()[0].upper(), purging[0]))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", watch)
    try:
        token = launch_as()
        for path, form in [
            ("/rostering/sync_requests", {}),
            ("/rostering/schedule/pause", {}),
            ("/rostering/alerts/guard", {"enabled": "on", "percent": "20", "count": "5"}),
            ("/rostering/history", {"years": "5"}),
            ("/canvas/disconnect", {}),
        ]:
            client.post(path, data={"launch_token": token, **form})
        client.post(
            "/rostering/alerts/guard",
            data={"launch_token": launch_as(""), "percent": "1", "count": "1"},
        )
        old = rows()[0]
        db.session.execute(
            update(Activity).where(Activity.id == old.id).values(at=old.at - timedelta(days=731))
        )  # the test's own hand on the clock, not the tool's
        db.session.commit()
        statements.pop()  # (that UPDATE)
        purging[0] = True
        with app.app_context():
            assert activity.purge() == 1
        purging[0] = False
    finally:
        event.remove(engine, "before_cursor_execute", watch)
    assert {kind for kind, _ in statements} <= {"INSERT", "DELETE"}
    assert all(during for kind, during in statements if kind == "DELETE")
    assert db.session.scalar(select(func.count()).select_from(Activity)) == 5


def test_settings_changed_tells_whoever_chose_it(client, world, launch_as, smtp):
    token = launch_as()
    form = {"launch_token": token, "percent": "10", "count": "1000"}  # no "enabled": off
    assert client.post("/rostering/alerts/guard", data=form).status_code == 303
    for _ in range(3):
        alerts_tick("test-worker")
    subjects = sorted(str(m["Subject"]) for m in smtp.inbox.messages)
    assert subjects == ["SIS Integration · Alpha College: Settings changed"] * 2  # both emails
    body = smtp.inbox.messages[0].get_body(("plain",)).get_content()
    assert "Change guard turned off by Avery Admin" in body

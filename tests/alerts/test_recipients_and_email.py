"""Recipients as admins and operators manage them, what an alert email says, the one-click
unsubscribe, the webhook guard, and tenancy."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from lti_app.activity.models import Activity
from lti_app.alerts import recipients
from lti_app.alerts.models import AlertDelivery, AlertRecipient, Channel
from lti_app.extensions import db

from .test_delivery import _finish, _job


@pytest.fixture
def tab(client, launcher):
    """The Alpha College admin's launch token, and the Settings tab's HTML as they see it."""
    token = launcher.admin_token("dep-a")

    def page() -> str:
        return client.get("/rostering/settings", query_string={"launch_token": token}).get_data(
            as_text=True
        )

    page.token = token  # type: ignore[attr-defined]
    return page


def _form(token: str, **fields):
    return {"launch_token": token, **fields}


def test_the_admin_adds_their_own_address_tests_it_and_removes_it(client, tab, smtp):
    html = tab()
    assert 'value="avery.admin@alpha.example.edu"' in html  # the launch's email claim
    added = client.post(
        "/rostering/alerts/recipients",
        data=_form(tab.token, channel="email", address="avery.admin@alpha.example.edu",
                   events=["failed", "held"]),
    )
    assert added.status_code == 303 and "notice=recipient-added" in added.location
    (recipient,) = db.session.scalars(select(AlertRecipient)).all()
    assert recipient.events == ["failed", "held"] and recipient.added_by == "Avery Admin"

    tested = client.post(
        f"/rostering/alerts/recipients/{recipient.id}/test", data=_form(tab.token)
    )
    assert tested.status_code == 303
    (message,) = smtp.inbox.messages
    assert str(message["Subject"]) == "SIS Integration · Alpha College: Test alert"
    assert "delivered" in tab()

    removed = client.post(
        f"/rostering/alerts/recipients/{recipient.id}/remove", data=_form(tab.token)
    )
    assert removed.status_code == 303
    assert db.session.scalars(select(AlertRecipient)).all() == []


def test_bad_recipients_are_refused_beside_the_form(client, tab):
    for fields, problem in [
        ({"channel": "email", "address": "not-an-address"}, "is not an email address"),
        ({"channel": "email", "address": "a@b.example", "events": []}, "at least one event"),
        ({"channel": "json", "url": "http://169.254.169.254/latest/meta-data"}, "cannot be used"),
        ({"channel": "pigeon"}, "Choose email or a webhook format"),
    ]:
        data = _form(tab.token, **fields)
        if "events" not in fields and fields.get("channel") != "pigeon":
            data["events"] = ["failed"]
        answer = client.post("/rostering/alerts/recipients", data=data)
        assert answer.status_code == 422
        assert problem in answer.get_data(as_text=True)
    assert db.session.scalars(select(AlertRecipient)).all() == []


def test_a_json_webhook_secret_is_shown_once_and_never_again(client, tab, receiver):
    added = client.post(
        "/rostering/alerts/recipients",
        data=_form(tab.token, channel="json", url=receiver.url + "/secret-path-token",
                   events=["failed"]),
    )
    assert added.status_code == 201
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", added.get_data(as_text=True))[0]
    later = tab()
    assert secret not in later and "secret-path-token" not in later
    assert "http://127.0.0.1/…oken" in later  # masked


def test_without_a_mail_server_the_tab_offers_webhooks_only(client, tab, app):
    app.config["MAIL_SERVER"] = ""
    html = tab()
    assert "Email is not set up on this SIS Integration server" in html
    assert 'value="email"' not in html
    refused = client.post(
        "/rostering/alerts/recipients",
        data=_form(tab.token, channel="email", address="a@alpha.example.edu", events=["failed"]),
    )
    assert refused.status_code == 422


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # a cloud's metadata service
        "http://10.0.0.1/hook",  # a private network
        "http://localhost:{port}/hook",  # loopback, but only 127.0.0.1 is named
    ],
)
def test_webhooks_to_internal_addresses_are_refused_and_nothing_is_fetched(
    url, tenant_ids, receiver
):
    port = receiver.url.rsplit(":", 1)[1]
    with pytest.raises(recipients.RecipientRefused):
        recipients.add_webhook(
            tenant_ids["dep-a"], url.format(port=port), Channel.JSON, events=None, locale="en",
            added_by="Avery Admin",
        )
    assert receiver.requests == []


def test_a_redirecting_webhook_is_refused_and_not_followed(api, receiver, tenant_ids, worker_round):
    target = receiver.url + "/elsewhere"
    receiver.script.append((302, {"Location": target}))
    recipients.add_webhook(
        tenant_ids["dep-a"], receiver.url + "/hook", Channel.SLACK, events=None, locale="en",
        added_by="Avery Admin",
    )
    job = _job(api, "redirected")
    _finish(api, job["id"], "failed", stage="Queued")
    worker_round()
    assert [r.path for r in receiver.requests] == ["/hook"]
    delivery = db.session.scalars(select(AlertDelivery)).one()
    assert delivery.state == "failed" and "redirects are not followed" in delivery.last_error


def test_an_alert_email_says_what_happened_without_secrets(
    api, api_tokens, smtp, add_email, worker_round, tenant_ids
):
    from lti_app.lti.models import Tenant

    tenant = db.session.get(Tenant, tenant_ids["dep-a"])
    tenant.canvas_api_base_url, tenant.canvas_root_account_id = "https://alpha.instructure.com", "1"
    db.session.commit()
    add_email("ops@alpha.example.edu", events=["failed"])
    job = _job(api, "detailed")
    messages = [
        {"severity": "error", "file": "enrollments.csv", "row": 10 + n,
         "message": f"Course SIS ID C{n} not found for user U{n}"}
        for n in range(40)
    ] + [{"severity": "warning", "file": "users.csv", "row": 2, "message": "User 7 has no email"}]
    _finish(api, job["id"], "failed", stage="Canvas Import", messages=messages,
            change_counts={"users": {"created": 3, "updated": 1, "deleted": 0}})
    worker_round()
    (message,) = smtp.inbox.messages
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "40 errors, 1 warning" in text
    assert "40 × enrollments.csv: Course SIS ID … not found for user …" in text
    assert text.count("Course SIS ID C") == 5  # the first five messages, whole
    assert "Users: 3 / 1 / 0" in text
    assert "https://alpha.instructure.com/accounts/1" in text and "Admin → Alpha College" in text
    assert "https://alpha.instructure.com/accounts/1" in html and "<table" in html
    assert str(message["Message-ID"]).endswith("@sis-integration>")
    everything = message.as_string()
    for secret in (*api_tokens.values(), "launch_token", "/rostering/"):
        assert secret not in everything
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert str(message["List-Unsubscribe"]).startswith("<https://tool.example.edu/alerts/")


def test_emails_speak_the_language_of_the_admin_who_added_the_address(
    api, smtp, add_email, worker_round
):
    add_email("ops@alpha.example.edu", events=["failed"], locale="es")
    job = _job(api, "es")
    _finish(api, job["id"], "failed", stage="Queued")
    worker_round()
    (message,) = smtp.inbox.messages
    subject = "SIS Integration · Alpha College: Importación de listas fallida"
    assert str(message["Subject"]) == subject
    assert "Estado: Fallido" in message.get_body(("plain",)).get_content()


def test_one_click_unsubscribe_removes_that_address_for_that_institution_only(
    api, client, smtp, add_email, worker_round, tenant_ids
):
    add_email("both@example.edu", events=["failed"])
    add_email("both@example.edu", deployment="dep-b", events=["failed"])
    job = _job(api, "u")
    _finish(api, job["id"], "failed", stage="Queued")
    worker_round()
    (message,) = smtp.inbox.messages
    link = str(message["List-Unsubscribe"]).strip("<>").removeprefix("https://tool.example.edu")
    asked = client.get(link)
    assert asked.status_code == 200 and "Stop sending both@example.edu" in asked.get_data(True)
    assert len(db.session.scalars(select(AlertRecipient)).all()) == 2  # a GET removes nobody
    done = client.post(link, data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded")
    assert done.status_code == 200
    assert "no longer receives alerts about Alpha College" in done.get_data(as_text=True)
    (left,) = db.session.scalars(select(AlertRecipient)).all()
    assert left.tenant.deployment_id == "dep-b"
    assert client.get(link[:-3] + "xyz").status_code == 404  # altered
    # Recorded in the institution's trail, as done by the address itself.
    (row,) = db.session.scalars(select(Activity)).all()
    assert (row.action, row.actor) == ("alerts.unsubscribed", "both@example.edu")
    assert row.tenant_id == tenant_ids["dep-a"]


def test_another_institution_can_neither_see_nor_manage_nor_hear(
    api, client, launcher, smtp, add_email, worker_round
):
    alpha = add_email("alpha-ops@alpha.example.edu")
    add_email("beta-ops@beta.example.edu", deployment="dep-b")
    beta = launcher.admin_token("dep-b")
    page = client.get("/rostering/settings", query_string={"launch_token": beta}).get_data(True)
    assert "alpha-ops@" not in page and "beta-ops@" in page
    for action in ("remove", "test"):
        answer = client.post(
            f"/rostering/alerts/recipients/{alpha.id}/{action}", data={"launch_token": beta}
        )
        assert answer.status_code == 404
    assert db.session.get(AlertRecipient, alpha.id) is not None
    job = _job(api, "a-fail")
    _finish(api, job["id"], "failed", stage="Queued")
    worker_round()
    assert [str(m["To"]) for m in smtp.inbox.messages] == ["alpha-ops@alpha.example.edu"]


def test_the_operator_manages_recipients_and_the_guard_by_command(runner, registered, smtp):
    names = ["--issuer", registered.issuer, "--client-id", registered.client_id,
             "--deployment-id", "dep-a"]
    added = runner.invoke(args=["alerts", "add", *names, "--email", "it@alpha.example.edu",
                                "--events", "failed,recovered"])
    assert added.exit_code == 0, added.output
    recipient_id = added.output.strip().splitlines()[-1]
    listed = runner.invoke(args=["alerts", "list", *names]).output
    assert "it@alpha.example.edu" in listed and "[failed,recovered]" in listed
    tested = runner.invoke(args=["alerts", "test", *names, recipient_id])
    assert tested.exit_code == 0 and "delivered" in tested.output
    assert len(smtp.inbox.messages) == 1
    bad = runner.invoke(args=["alerts", "add", *names, "--email", "x@y.example", "--events",
                              "sometimes"])
    assert bad.exit_code != 0 and "Unknown events: sometimes" in bad.output
    guard = runner.invoke(args=["alerts", "guard", *names, "--percent", "20", "--count", "300"])
    assert "on; holds a sync deleting more than 20 % or more than 300" in guard.output
    assert "off" in runner.invoke(args=["alerts", "guard", *names, "--off"]).output
    removed = runner.invoke(args=["alerts", "remove", *names, recipient_id])
    assert removed.exit_code == 0
    assert runner.invoke(args=["alerts", "remove", *names, recipient_id]).exit_code != 0


def test_at_most_twenty_recipients_and_no_duplicates(add_email):
    add_email("dup@alpha.example.edu")
    with pytest.raises(recipients.RecipientRefused, match="already on the list"):
        add_email("DUP@alpha.example.edu")
    for n in range(19):
        add_email(f"r{n}@alpha.example.edu")
    with pytest.raises(recipients.RecipientRefused, match="at most 20"):
        add_email("one-more@alpha.example.edu")

"""Connecting: OAuth2 from the tab (in a window of its own), a token by hand, the CLI, secrets
kept encrypted and out of every page, log and answer; tenancy of the mirror."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import text

from lti_app import crypto
from lti_app.canvas import connections
from lti_app.canvas.oauth import SCOPES
from lti_app.extensions import db
from lti_app.lti.models import Tenant

from .conftest import canvas_launch, count_jobs, jobs_of


def authorize(client, canvas, token: str, *, approve: bool = True) -> requests.Response:
    """Connect to Canvas as the new window does: our redirect, Canvas's page, its answer."""
    start = client.post("/canvas/connect", data={"launch_token": token})
    assert start.status_code == 303
    page = requests.get(start.location, timeout=5)
    assert page.status_code == 200
    link = "authorize" if approve else "cancel"
    marker = f"id='{link}' href='"
    href = page.text.split(marker, 1)[1].split("'", 1)[0].replace("&amp;", "&")
    return requests.get(href, allow_redirects=False, timeout=5)


def test_connect_to_canvas_runs_oauth_and_the_tab_says_who_connected(
    canvas, launcher, client, poll, tenant_ids
):
    connections.add_api_key(canvas.base_url, canvas.standin.client_id, canvas.standin.client_secret)
    canvas.standin.add_history("1", 12)
    token = canvas_launch(launcher, canvas)
    tenant = db.session.get(Tenant, tenant_ids["dep-a"])
    assert (tenant.canvas_api_base_url, tenant.canvas_root_account_id) == (canvas.base_url, "1")

    page = client.get("/rostering/settings", query_string={"launch_token": token}).get_data(True)
    assert "Connect to Canvas" in page and 'target="sis-canvas-connect"' in page

    start = client.post("/canvas/connect", data={"launch_token": token})
    query = parse_qs(urlsplit(start.location).query)
    assert start.location.startswith(canvas.base_url + "/login/oauth2/auth?")
    assert query["client_id"] == [canvas.standin.client_id]
    assert query["response_type"] == ["code"]
    assert query["scope"] == [" ".join(SCOPES)]
    assert query["redirect_uri"] == ["https://localhost/canvas/oauth/callback"]

    back = authorize(client, canvas, token)
    callback = urlsplit(back.headers["Location"])
    done = client.get(callback.path, query_string=callback.query)
    assert done.status_code == 200
    assert "Connected to Canvas" in done.get_data(as_text=True)

    connection = connections.for_tenant(tenant_ids["dep-a"])
    assert (connection.method, connection.connected_by, connection.account_id) == (
        "oauth",
        "Morgan Registrar",
        "1",
    )
    assert list(poll().values()) == ["ok: 12 job(s) changed"]
    page = client.get("/rostering/settings", query_string={"launch_token": token}).get_data(True)
    assert "Connected by Morgan Registrar on" in page

    response = client.post("/canvas/disconnect", data={"launch_token": token})
    assert response.status_code == 303
    assert connections.for_tenant(tenant_ids["dep-a"]) is None
    assert count_jobs(tenant_ids["dep-a"]) == 12  # the history stays


def test_denied_or_stale_authorizations_connect_nothing(canvas, launcher, client, tenant_ids):
    connections.add_api_key(canvas.base_url, canvas.standin.client_id, canvas.standin.client_secret)
    token = canvas_launch(launcher, canvas)

    back = authorize(client, canvas, token, approve=False)
    callback = urlsplit(back.headers["Location"])
    denied = client.get(callback.path, query_string=callback.query)
    assert denied.status_code == 400 and "did not connect" in denied.get_data(as_text=True)

    forged = client.get("/canvas/oauth/callback", query_string={"code": "x", "state": "forged"})
    assert forged.status_code == 400 and "expired" in forged.get_data(as_text=True)
    assert connections.for_tenant(tenant_ids["dep-a"]) is None


def test_connect_needs_an_api_key_and_a_launch(canvas, launcher, client):
    token = canvas_launch(launcher, canvas)
    page = client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)
    assert "Connect to Canvas" not in page  # no API key for this Canvas yet
    assert client.post("/canvas/connect", data={"launch_token": token}).status_code == 404
    assert client.post("/canvas/connect").status_code == 401
    assert client.post("/canvas/disconnect").status_code == 401


def test_the_cli_adds_keys_connects_by_hand_reports_and_disconnects(
    canvas, runner, registered, tenant_ids
):
    tenant_args = [
        "--issuer", registered.issuer, "--client-id", registered.client_id,
        "--deployment-id", "dep-a",
    ]  # fmt: skip
    added = runner.invoke(
        args=["canvas", "api-key", "add", "--base-url", canvas.base_url + "/",
              "--client-id", "170000000000042", "--client-secret", "s3cr3t-value"]
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    listed = runner.invoke(args=["canvas", "api-key", "list"])
    assert canvas.base_url in listed.output and "s3cr3t-value" not in listed.output

    hand_token = canvas.standin.issue_token()
    connected = runner.invoke(
        args=["canvas", "connect", *tenant_args, "--base-url", canvas.base_url,
              "--account-id", "1", "--access-token", hand_token]
    )  # fmt: skip
    assert connected.exit_code == 0, connected.output
    canvas.standin.add_history("1", 5)

    polled = runner.invoke(args=["canvas", "poll"])
    assert "ok: 5 job(s) changed" in polled.output and "Polled 1 connection(s)." in polled.output
    status = runner.invoke(args=["canvas", "status"])
    assert "Alpha College (dep-a)" in status.output and "account 1, token" in status.output
    assert "history complete" in status.output and hand_token not in status.output

    gone = runner.invoke(args=["canvas", "disconnect", *tenant_args])
    assert gone.exit_code == 0
    again = runner.invoke(args=["canvas", "disconnect", *tenant_args])
    assert again.exit_code != 0 and "not connected" in again.output


def test_tokens_and_secrets_never_leave_the_database_in_clear(
    canvas, launcher, client, poll, api, runner, caplog, tenant_ids
):
    caplog.set_level(logging.DEBUG)
    connections.add_api_key(canvas.base_url, canvas.standin.client_id, canvas.standin.client_secret)
    canvas.standin.add_history("1", 3)
    token = canvas_launch(launcher, canvas)
    back = authorize(client, canvas, token)
    callback = urlsplit(back.headers["Location"])
    client.get(callback.path, query_string=callback.query)
    poll()
    connection = connections.for_tenant(tenant_ids["dep-a"])
    secrets_ = [
        crypto.decrypt(connection.access_token_encrypted),
        crypto.decrypt(connection.refresh_token_encrypted),
        canvas.standin.client_secret,
    ]
    (job,) = jobs_of(tenant_ids["dep-a"])[:1]

    def page(path: str) -> str:
        return client.get(path, query_string={"launch_token": token}).get_data(as_text=True)

    seen = [
        caplog.text,
        page("/rostering/"),
        page(f"/rostering/jobs/{job.public_id}/json"),
        page("/rostering/jobs.csv"),
        api("GET", "/rostering_jobs").get_data(as_text=True),
        api("GET", f"/rostering_jobs/{job.public_id}").get_data(as_text=True),
        runner.invoke(args=["canvas", "status"]).output,
        runner.invoke(args=["canvas", "api-key", "list"]).output,
    ]  # fmt: skip
    stored = db.session.execute(
        text("SELECT access_token_encrypted, refresh_token_encrypted FROM canvas_connection")
    ).one()
    stored_secret = db.session.execute(
        text("SELECT client_secret_encrypted FROM canvas_api_key")
    ).scalar_one()
    seen += [*stored, stored_secret]
    for secret in secrets_:
        assert all(secret not in text_ for text_ in seen)


def test_rotating_the_token_key_re_encrypts_every_secret(app, canvas, connect, runner):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app.config["SECRET_STORAGE_KEYS"] = [old]
    connections.add_api_key(canvas.base_url, "client", "the-client-secret")
    connection = connect(access_token="the-access-token")

    app.config["SECRET_STORAGE_KEYS"] = [new, old]
    result = runner.invoke(args=["canvas", "rotate-key"])  # its old name: every secret
    assert "Re-encrypted 2 value(s) with the current key." in result.output

    app.config["SECRET_STORAGE_KEYS"] = [new]
    db.session.refresh(connection)
    assert crypto.decrypt(connection.access_token_encrypted) == "the-access-token"
    app.config["SECRET_STORAGE_KEYS"] = [old]
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(connection.access_token_encrypted)


def test_one_institutions_connection_never_writes_anothers_history(
    canvas, connect, poll, launcher, client, make_job, tenant_ids
):
    make_job("dep-b", external_id="beta-own-sync")
    canvas.standin.add_history("1", 20, start_id=100)
    canvas.standin.add_history("2", 7, start_id=900)
    connect("dep-a", account="1")
    poll()

    assert count_jobs(tenant_ids["dep-a"]) == 20
    assert [j.external_id for j in jobs_of(tenant_ids["dep-b"])] == ["beta-own-sync"]
    beta = launcher.admin_token("dep-b")
    page = client.get("/rostering/", query_string={"launch_token": beta}).get_data(as_text=True)
    assert "SIS Import" not in page and "Canvas SIS imports" not in page
    alpha_job = jobs_of(tenant_ids["dep-a"])[0]
    other = client.get(
        f"/rostering/jobs/{alpha_job.public_id}/details", query_string={"launch_token": beta}
    )
    assert other.status_code == 404
    # Beta's own connection to its own account mirrors only its own imports.
    connect("dep-b", account="2")
    poll()
    assert count_jobs(tenant_ids["dep-b"]) == 8 and count_jobs(tenant_ids["dep-a"]) == 20

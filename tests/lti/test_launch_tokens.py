"""After the launch, every click proves itself with a signed launch token, not a cookie."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from lti_app.extensions import db
from lti_app.lti.models import Launch
from lti_app.timeutil import utcnow
from tests.support.launcher import https_client

OPEN_AGAIN = "Open SIS Integration again from Canvas."


def test_pages_work_with_the_token_and_no_cookie(launcher, app):
    token = launcher.admin_token("dep-a")
    cookieless = app.test_client(use_cookies=False)
    response = cookieless.get("/rostering/", query_string={"launch_token": token})
    assert response.status_code == 200


def test_each_page_hands_out_a_fresh_token(launcher, client, time_machine):
    time_machine.move_to(datetime.now(UTC))
    token = launcher.admin_token("dep-a")
    time_machine.shift(1.1)  # tokens carry a timestamp in whole seconds
    html = client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)
    assert "launch_token=" in html
    assert f"launch_token={token}" not in html


@pytest.mark.parametrize("token", [None, "", "garbage", "a.b.c"])
def test_missing_or_garbage_token_is_refused(client, token):
    query = {} if token is None else {"launch_token": token}
    response = client.get("/rostering/", query_string=query)
    assert response.status_code == 401
    assert OPEN_AGAIN in response.get_data(as_text=True)


def test_altered_token_is_refused(launcher, client):
    token = launcher.admin_token("dep-a")
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.get("/rostering/", query_string={"launch_token": altered}).status_code == 401


@pytest.mark.parametrize("app_overrides", [{"LAUNCH_TOKEN_TTL": 1}])
def test_idle_token_expires(launcher, client, time_machine):
    time_machine.move_to(datetime.now(UTC))
    token = launcher.admin_token("dep-a")
    time_machine.shift(2.1)
    response = client.get("/rostering/", query_string={"launch_token": token})
    assert response.status_code == 401
    assert OPEN_AGAIN in response.get_data(as_text=True)


def test_no_token_outlives_its_launch(launcher, client):
    token = launcher.admin_token("dep-a")
    launch = db.session.scalars(select(Launch)).one()
    launch.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get("/rostering/", query_string={"launch_token": token}).status_code == 401


def test_token_signed_with_another_secret_is_refused(launcher, make_app):

    token = launcher.admin_token("dep-a")
    other = https_client(make_app(SECRET_KEY="another-deployment-secret"))
    assert other.get("/rostering/", query_string={"launch_token": token}).status_code == 401

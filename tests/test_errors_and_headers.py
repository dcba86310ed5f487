"""Refusals and outages are plain pages with the right status, and every page is framable by
Canvas only."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from config.settings import ConfigError
from lti_app import create_app
from lti_app.lti import tokens
from lti_app.lti.models import Launch
from tests.support.launcher import https_client


def test_pages_may_be_framed_by_canvas_and_registered_platforms_only(launcher, client, registered):
    token = launcher.admin_token("dep-a")
    response = client.get("/rostering/", query_string={"launch_token": token})
    csp = response.headers["Content-Security-Policy"]
    ancestors = csp.split("frame-ancestors", 1)[1].split(";")[0].split()
    assert "https://*.instructure.com" in ancestors
    assert registered.issuer in ancestors
    assert "*" not in ancestors
    assert "X-Frame-Options" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in csp


def test_extra_frame_ancestors_come_from_the_environment(monkeypatch, make_app):
    monkeypatch.setenv("FRAME_ANCESTORS", "https://canvas.example.edu")
    app = make_app()
    csp = app.test_client().get("/lti/jwks").headers["Content-Security-Policy"]
    assert "https://canvas.example.edu" in csp


def test_unknown_page_is_a_plain_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "not found" in response.get_data(as_text=True)


def test_launch_by_get_is_405_not_a_trace(client):
    response = client.get("/lti/launch")
    assert response.status_code == 405
    assert "Traceback" not in response.get_data(as_text=True)


def _app_without_database(tmp_path):
    missing = tmp_path / "no-such-dir" / "db.sqlite"
    return create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{missing}"})


def test_missing_database_gives_503_pages(tmp_path):

    app = _app_without_database(tmp_path)
    with app.app_context():
        token = tokens.mint(Launch(id="a-launch-id"))  # well signed; its row can't be read
    client = https_client(app)
    for path in ("/lti/login?iss=x&login_hint=y", f"/rostering/?launch_token={token}", "/lti/jwks"):
        response = client.get(path, headers={"Sec-Fetch-Dest": "document"})
        assert response.status_code == 503, path
        html = response.get_data(as_text=True)
        assert "reach its database right now" in html
        assert "Traceback" not in html


def test_missing_database_gives_503_json_to_json_clients(tmp_path):
    client = https_client(_app_without_database(tmp_path))
    response = client.get("/lti/jwks", headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert response.json["error"] == "Temporarily unavailable"


def test_production_requires_a_secret_key(monkeypatch):

    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"APP_ENV": "production"})


def test_production_requires_a_secret_storage_key(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "s3cret-for-this-test")
    monkeypatch.delenv("SECRET_STORAGE_KEY", raising=False)
    monkeypatch.delenv("CANVAS_TOKEN_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_STORAGE_KEY"):
        create_app({"APP_ENV": "production"})
    # Its first name still works.
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("CANVAS_TOKEN_KEY", key)
    assert create_app({"APP_ENV": "production"}).config["SECRET_STORAGE_KEYS"] == [key]


def test_production_never_serves_the_test_platform(monkeypatch, make_app):
    monkeypatch.setenv("SECRET_KEY", "s3cret-for-this-test")
    monkeypatch.setenv("CANVAS_TOKEN_KEY", Fernet.generate_key().decode())
    app = make_app(APP_ENV="production", DEV_PLATFORM=True)
    assert app.test_client().get("/dev/").status_code == 404

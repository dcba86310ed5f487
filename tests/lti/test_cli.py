"""``flask lti ...``: registrations and keys, as an IT person would type them."""

from __future__ import annotations

import json

from sqlalchemy import select, update

from lti_app.extensions import db
from lti_app.lti import keys
from lti_app.lti.models import Platform, Tenant, ToolKey

REGISTER = [
    "lti",
    "register",
    "--issuer",
    "https://canvas.instructure.com",
    "--client-id",
    "170000000000042",
    "--auth-login-url",
    "https://sso.canvaslms.com/api/lti/authorize_redirect",
    "--auth-token-url",
    "https://sso.canvaslms.com/login/oauth2/token",
    "--key-set-url",
    "https://sso.canvaslms.com/api/lti/security/jwks",
]


def _deployments() -> set[str]:
    return set(db.session.scalars(select(Tenant.deployment_id)))


def test_register_is_idempotent_and_adds_deployments(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=[*REGISTER, "--deployment-id", "1:abc"])
    assert first.exit_code == 0, first.output
    assert runner.invoke(args=[*REGISTER, "--deployment-id", "1:abc"]).exit_code == 0
    result = runner.invoke(args=[*REGISTER, "--deployment-id", "2:def", "--deployment-id", "3:ghi"])
    assert result.exit_code == 0
    assert db.session.scalars(select(Platform)).one().client_id == "170000000000042"
    assert _deployments() == {"1:abc", "2:def", "3:ghi"}


def test_list_shows_platforms_and_deployments(app):
    runner = app.test_cli_runner()
    runner.invoke(args=[*REGISTER, "--deployment-id", "1:abc", "--name", "Alpha College"])
    output = runner.invoke(args=["lti", "list"]).output
    assert "https://canvas.instructure.com" in output
    assert "1:abc" in output and "Alpha College" in output


def test_remove_a_deployment_then_the_platform(app):
    runner = app.test_cli_runner()
    runner.invoke(args=[*REGISTER, "--deployment-id", "1:abc", "--deployment-id", "2:def"])
    common = ["--issuer", "https://canvas.instructure.com", "--client-id", "170000000000042"]
    assert runner.invoke(args=["lti", "remove", *common, "--deployment-id", "1:abc"]).exit_code == 0
    assert _deployments() == {"2:def"}
    assert runner.invoke(args=["lti", "remove", *common]).exit_code == 0
    assert db.session.scalars(select(Platform)).all() == []
    missing = runner.invoke(args=["lti", "remove", *common])
    assert missing.exit_code != 0 and "No such registration" in missing.output


def test_import_a_pylti1p3_config(app, tmp_path):
    config = {
        "https://canvas.instructure.com": [
            {
                "default": True,
                "client_id": "1700001",
                "auth_login_url": "https://sso.canvaslms.com/api/lti/authorize_redirect",
                "auth_token_url": "https://sso.canvaslms.com/login/oauth2/token",
                "key_set_url": "https://sso.canvaslms.com/api/lti/security/jwks",
                "key_set": None,
                "private_key_file": "private.key",
                "public_key_file": "public.key",
                "deployment_ids": ["9:xyz"],
            }
        ],
        "https://moodle.example.edu": {
            "client_id": "moodle-1",
            "auth_login_url": "https://moodle.example.edu/mod/lti/auth.php",
            "auth_token_url": "https://moodle.example.edu/mod/lti/token.php",
            "key_set_url": "https://moodle.example.edu/mod/lti/certs.php",
            "deployment_ids": ["1", "2"],
        },
    }
    path = tmp_path / "game.json"
    path.write_text(json.dumps(config))
    result = app.test_cli_runner().invoke(args=["lti", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert _deployments() == {"9:xyz", "1", "2"}


def test_import_refuses_an_incomplete_config_and_stores_nothing(app, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"https://x.example": {"client_id": "1"}}))
    result = app.test_cli_runner().invoke(args=["lti", "import", str(path)])
    assert result.exit_code != 0
    assert "missing" in result.output
    assert db.session.scalars(select(Platform)).all() == []


def test_a_key_id_that_starts_with_a_dash_is_retired_not_read_as_an_option(app, client):
    # A key id is base64url: one in 64 starts with "-" (a flaky run of the test below).
    runner = app.test_cli_runner()
    client.get("/lti/jwks")  # the first key is made
    assert runner.invoke(args=["lti", "rotate-keys"]).exit_code == 0
    older = keys.live_keys()[-1].kid
    dashed = "-" + older[1:]
    db.session.execute(update(ToolKey).where(ToolKey.kid == older).values(kid=dashed))
    db.session.commit()
    db.session.expire_all()
    retired = runner.invoke(args=["lti", "retire-key", dashed])
    assert retired.exit_code == 0, retired.output
    assert dashed not in [k["kid"] for k in client.get("/lti/jwks").json["keys"]]


def test_rotate_and_retire_keys(app, client):
    runner = app.test_cli_runner()
    original = client.get("/lti/jwks").json["keys"][0]["kid"]
    assert runner.invoke(args=["lti", "rotate-keys"]).exit_code == 0
    kids = [k["kid"] for k in client.get("/lti/jwks").json["keys"]]
    assert len(kids) == 2 and original in kids
    assert runner.invoke(args=["lti", "retire-key", original]).exit_code == 0
    remaining = [k["kid"] for k in client.get("/lti/jwks").json["keys"]]
    assert remaining == [k for k in kids if k != original]
    last = runner.invoke(args=["lti", "retire-key", remaining[0]])
    assert last.exit_code != 0, "the last live key cannot be retired"

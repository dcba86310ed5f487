"""LTI Dynamic Registration against the test platform acting as Canvas over real HTTP: the
flow end to end and an admin launch after it, re-registering, where the deployment comes from,
every refusal with nothing stored, and approval mode."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from lti_app.extensions import db
from lti_app.lti.models import Platform, Tenant
from tests.support.launcher import Launcher

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"


@pytest.fixture
def app_overrides() -> dict[str, object]:
    # The test platform is on 127.0.0.1: named exactly, so its loopback address is allowed.
    return {"REGISTRATION_ALLOWED_HOSTS": ["*.instructure.com", "127.0.0.1"]}


@pytest.fixture
def canvas(platform):
    """The test platform as a Canvas that registers tools; its knobs reset after each test."""
    platform.registration.clear()
    platform.registrations.clear()
    yield platform
    platform.registration.clear()
    platform.registrations.clear()


def params(canvas, **more: str) -> dict[str, str]:
    return {
        "openid_configuration": canvas.base_url + "/.well-known/openid-configuration",
        "registration_token": canvas.registration_token,
        **more,
    }


def platforms() -> int:
    return db.session.scalar(select(func.count()).select_from(Platform))


def test_one_url_installs_the_tool_and_an_admin_can_launch(client, canvas, runner):
    review = client.get("/lti/register", query_string=params(canvas))
    assert review.status_code == 200
    page = review.get_data(as_text=True)
    for shown in ("Install SIS Integration", "Alpha College Canvas", "Account Navigation",
                  "Public", "$Canvas.rootAccount.id"):  # fmt: skip
        assert shown in page
    # Framable by the Canvas that opened it; the parameters travel in the form.
    assert canvas.base_url in review.headers["Content-Security-Policy"]
    assert 'name="registration_token"' in page and not review.headers.get("Set-Cookie")
    assert platforms() == 0  # nothing stored before the admin says so

    done = client.post("/lti/register", data=params(canvas))
    assert done.status_code == 200
    assert "org.imsglobal.lti.close" not in done.get_data(as_text=True)  # sent by the script
    assert "registration-close.js" in done.get_data(as_text=True)
    assert "turn the SIS Integration key <strong>ON</strong>" in done.get_data(as_text=True)

    (body,) = canvas.registrations
    assert body["application_type"] == "web"
    assert body["response_types"] == ["id_token"]
    assert body["grant_types"] == ["implicit", "client_credentials"]
    assert body["token_endpoint_auth_method"] == "private_key_jwt"
    assert body["initiate_login_uri"] == "https://localhost/lti/login"
    assert body["redirect_uris"] == ["https://localhost/lti/launch"]
    assert body["jwks_uri"] == "https://localhost/lti/jwks"
    tool = body[TOOL_CONFIGURATION]
    assert tool["claims"] == ["sub", "name", "given_name", "family_name", "email", "locale"]
    assert tool["https://canvas.instructure.com/lti/privacy_level"] == "public"
    (message,) = tool["messages"]
    assert message["label"] == "SIS Integration"
    assert message["placements"] == ["https://canvas.instructure.com/lti/account_navigation"]
    # One source of truth: the same custom fields as the developer key JSON.
    config = client.get("/lti/config.json").json
    assert tool["custom_parameters"] == config["custom_fields"]

    platform = db.session.scalars(select(Platform)).one()
    assert (platform.issuer, platform.client_id, platform.registered_via) == (
        canvas.issuer, canvas.client_id, "dynamic",
    )  # fmt: skip
    assert platform.key_set_url == canvas.base_url + "/jwks"
    assert [t.deployment_id for t in platform.tenants] == ["dep-dynamic"]
    listed = runner.invoke(args=["lti", "list"]).output
    assert "registered dynamic" in listed

    launch = Launcher(client, canvas).launch("dep-dynamic")
    assert launch.status_code == 303 and "/rostering/" in launch.location


def test_registering_again_updates_the_platform(client, canvas):
    client.post("/lti/register", data=params(canvas))
    client.post("/lti/register", data=params(canvas))
    assert platforms() == 1
    assert db.session.scalar(select(func.count()).select_from(Tenant)) == 1


def test_the_deployment_inside_the_tool_configuration_is_read_too(client, canvas):
    canvas.registration["answer"] = "spec"
    client.post("/lti/register", data=params(canvas))
    assert [t.deployment_id for t in db.session.scalars(select(Tenant))] == ["dep-dynamic"]


def test_without_a_deployment_the_first_launch_records_it(client, canvas):
    canvas.registration["answer"] = "none"
    assert client.post("/lti/register", data=params(canvas)).status_code == 200
    assert db.session.scalar(select(func.count()).select_from(Tenant)) == 0

    launcher = Launcher(client, canvas)
    assert launcher.launch("dep-first").status_code == 303
    assert launcher.launch("dep-first").status_code == 303
    # Only the first deployment is taken; another is refused until registered.
    assert launcher.launch("dep-second").status_code == 400
    assert [t.deployment_id for t in db.session.scalars(select(Tenant))] == ["dep-first"]


def test_a_forged_first_launch_records_no_deployment(client, canvas):
    canvas.registration["answer"] = "none"
    client.post("/lti/register", data=params(canvas))
    launcher = Launcher(client, canvas)
    login = launcher.login("dep-forged")
    claims = canvas.claims(nonce=login.nonce, deployment_id="dep-forged")
    forged = canvas.sign(claims, key=type(canvas.key).generate())
    assert launcher.post(forged, login.state).status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Tenant)) == 0


@pytest.mark.parametrize(
    ("knobs", "status", "says"),
    [
        ({"config": {"issuer": "https://evil.example.com"}}, 400, "issuer is not on the host"),
        # What the tool was given is refused: a 4xx, nothing wrong with the tool.
        ({"config_answer": "redirect"}, 422, "redirect"),
        ({"config_answer": "oversize"}, 422, "larger than"),
        ({"config_answer": "html"}, 422, "not JSON"),
        ({"config": {"id_token_signing_alg_values_supported": ["HS256"]}}, 400, "RS256"),
        (
            {"config": {"https://purl.imsglobal.org/spec/lti-platform-configuration": {
                "product_family_code": "canvas",
                "messages_supported": [{"type": "LtiResourceLinkRequest",
                                        "placements": ["course_navigation"]}]}}},
            400,
            "Account Navigation",
        ),
        ({"refuse": "Developer key limit reached"}, 422,
         "Canvas refused the registration: Developer key limit reached"),
    ],
    ids=["issuer-mismatch", "redirect", "oversize", "not-json", "no-rs256", "no-placement",
         "canvas-422"],
)  # fmt: skip
def test_every_refusal_is_a_plain_page_and_stores_nothing(client, canvas, knobs, status, says):
    canvas.registration.update(knobs)
    response = client.post("/lti/register", data=params(canvas))
    assert response.status_code == status
    page = response.get_data(as_text=True)
    assert says in page and "Traceback" not in page
    assert canvas.base_url in response.headers["Content-Security-Policy"]
    assert platforms() == 0


def test_the_account_navigation_placement_may_be_named_short(client, canvas):
    config = canvas.openid_configuration()[
        "https://purl.imsglobal.org/spec/lti-platform-configuration"
    ]
    config["messages_supported"][0]["placements"] = ["account_navigation"]
    canvas.registration["config"] = {
        "https://purl.imsglobal.org/spec/lti-platform-configuration": config
    }
    assert client.post("/lti/register", data=params(canvas)).status_code == 200
    (body,) = canvas.registrations
    assert body[TOOL_CONFIGURATION]["messages"][0]["placements"] == ["account_navigation"]


def test_an_expired_registration_token_is_refused(client, canvas):
    response = client.get("/lti/register", query_string=params(canvas, registration_token="old"))
    assert response.status_code == 401
    assert "registration token" in response.get_data(as_text=True)
    assert platforms() == 0


@pytest.mark.parametrize("app_overrides", [{"REGISTRATION_ALLOWED_HOSTS": ["*.instructure.com"]}])
def test_a_canvas_not_allowed_is_refused_before_anything_is_fetched(client, canvas):
    response = client.get("/lti/register", query_string=params(canvas))
    assert response.status_code == 403
    assert "This Canvas is not allowed to register SIS Integration" in response.get_data(
        as_text=True
    )
    assert canvas.registrations == []


@pytest.mark.parametrize("app_overrides", [{"REGISTRATION_ALLOWED_HOSTS": ["local*"]}])
def test_a_private_address_is_refused_unless_named_exactly(client, canvas):
    url = canvas.base_url.replace("127.0.0.1", "localhost") + "/.well-known/openid-configuration"
    response = client.get(
        "/lti/register",
        query_string={"openid_configuration": url, "registration_token": canvas.registration_token},
    )
    assert response.status_code == 403
    assert platforms() == 0


@pytest.mark.parametrize(
    "app_overrides", [{"REGISTRATION_RATE_LIMIT": 2, "REGISTRATION_ALLOWED_HOSTS": ["127.0.0.1"]}]
)
def test_registrations_are_rate_limited_per_address(client, canvas):
    assert client.get("/lti/register", query_string=params(canvas)).status_code == 200
    assert client.get("/lti/register", query_string=params(canvas)).status_code == 200
    assert client.get("/lti/register", query_string=params(canvas)).status_code == 429


def test_missing_parameters_say_where_to_paste_the_url(client):
    response = client.get("/lti/register")
    assert response.status_code == 400
    assert "+ LTI Registration" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "app_overrides",
    [{"REGISTRATION_ALLOWED_HOSTS": ["127.0.0.1"], "REGISTRATION_REQUIRES_APPROVAL": True}],
)
def test_approval_mode_keeps_launches_waiting_until_approved(client, canvas, runner):
    done = client.post("/lti/register", data=params(canvas))
    assert "approves new Canvases" in done.get_data(as_text=True)
    launcher = Launcher(client, canvas)
    waiting = launcher.launch("dep-dynamic")
    assert waiting.status_code == 403
    assert "waiting for its operator" in waiting.get_data(as_text=True)
    assert "PENDING APPROVAL" in runner.invoke(args=["lti", "list"]).output

    approved = runner.invoke(
        args=["lti", "approve", "--issuer", canvas.issuer, "--client-id", canvas.client_id]
    )
    assert approved.exit_code == 0
    assert launcher.launch("dep-dynamic").status_code == 303

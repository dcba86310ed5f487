"""The OIDC login and the signed launch, end to end, against a real test platform."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time

import jwt
import pytest
from sqlalchemy import func, select

from lti_app.extensions import db
from lti_app.lti import registry
from lti_app.lti.models import Launch, LoginRecord
from tests.support.launcher import Launcher, https_client
from tests.support.platform import CLAIM, SigningKey

NOT_VERIFIED = "This launch could not be verified. Open SIS Integration again from Canvas."


def test_login_redirects_to_the_platform_with_state_and_nonce(launcher, registered):
    login = launcher.login("dep-a")
    assert login.response.status_code == 302
    assert login.response.location.startswith(registered.base_url + "/auth?")
    assert "prompt=none" in login.response.location
    assert login.state and login.nonce
    cookie = login.response.headers["Set-Cookie"]
    assert f"lti1p3-{login.state}={login.state}" in cookie
    for attribute in ("Secure", "HttpOnly", "SameSite=None", "Partitioned"):
        assert attribute in cookie


def test_login_keeps_state_and_nonce_in_the_database(launcher):
    login = launcher.login("dep-a")
    keys = set(db.session.scalars(select(LoginRecord.key)))
    assert f"lti1p3-nonce-{login.nonce}" in keys
    assert f"lti1p3-{login.state}" in keys


def test_login_in_a_frame_answers_a_page_that_continues_to_the_platform(launcher, registered):
    login = launcher.login("dep-a", top_level=False, lti_storage_target="_parent")
    assert login.response.status_code == 200
    html = login.response.get_data(as_text=True)
    assert 'data-storage-target="_parent"' in html
    assert registered.base_url + "/auth?" in html
    assert "Open SIS Integration in a new window" in html
    assert "Partitioned" in login.response.headers["Set-Cookie"]


@pytest.mark.parametrize(
    "params",
    [
        {"iss": "https://unknown.example"},
        {"client_id": "no-such-client"},
        {"login_hint": ""},
        {"iss": ""},
    ],
)
def test_login_with_unknown_or_missing_parameters_is_refused(launcher, params):
    login = launcher.login("dep-a", **params)
    assert login.response.status_code == 400
    assert NOT_VERIFIED in login.response.get_data(as_text=True)


def test_admin_launch_opens_the_rostering_tab(launcher, client):
    response = launcher.launch("dep-a", name="Avery Admin", account="Alpha College Main")
    assert response.status_code == 303
    assert response.location.startswith("/rostering/?launch_token=")
    page = client.get(response.location)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Avery Admin" in html
    assert "Alpha College Main" in html
    assert "Rostering" in html


def test_launch_records_who_launched_from_where(launcher):
    launcher.launch("dep-a", name="Avery Admin", account="Alpha Main", timezone="Europe/Paris")
    launch = db.session.scalars(select(Launch)).one()
    assert (launch.user_name, launch.account_name, launch.timezone) == (
        "Avery Admin",
        "Alpha Main",
        "Europe/Paris",
    )
    assert launch.tenant.deployment_id == "dep-a"


def test_unknown_time_zone_falls_back_to_utc(launcher):
    launcher.launch("dep-a", timezone="$Person.address.timezone")
    assert db.session.scalars(select(Launch.timezone)).one() == "UTC"


def test_replayed_launch_is_refused(launcher, registered):
    login = launcher.login("dep-a")
    token = registered.sign(registered.claims(nonce=login.nonce, deployment_id="dep-a"))
    assert launcher.post(token, login.state).status_code == 303
    replay = launcher.post(token, login.state)
    assert replay.status_code == 400
    assert NOT_VERIFIED in replay.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Launch)) == 1


def test_replay_is_refused_by_another_worker(launcher, registered, make_app):
    """The nonce is remembered in the database, not in one process."""

    login = launcher.login("dep-a")
    token = registered.sign(registered.claims(nonce=login.nonce, deployment_id="dep-a"))
    assert launcher.post(token, login.state).status_code == 303
    other = https_client(make_app())
    other.set_cookie(f"lti1p3-{login.state}", login.state, domain="localhost")
    response = other.post("/lti/launch", data={"id_token": token, "state": login.state})
    assert response.status_code == 400


def test_state_without_its_cookie_is_refused(launcher, registered, client):
    login = launcher.login("dep-a")
    client.delete_cookie(f"lti1p3-{login.state}", domain="localhost")
    token = registered.sign(registered.claims(nonce=login.nonce, deployment_id="dep-a"))
    assert launcher.post(token, login.state).status_code == 400


def test_state_without_cookie_but_in_platform_storage_is_checked_in_the_browser(
    launcher, registered, client
):
    login = launcher.login("dep-a", top_level=False, lti_storage_target="_parent")
    client.delete_cookie(f"lti1p3-{login.state}", domain="localhost")
    token = registered.sign(registered.claims(nonce=login.nonce, deployment_id="dep-a"))
    response = launcher.post(token, login.state)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'data-state="{login.state}"' in html
    assert f'data-nonce="{login.nonce}"' in html
    assert 'data-next-url="/rostering/?launch_token=' in html
    # The nonce is spent all the same: the same launch again is a replay.
    assert launcher.post(token, login.state).status_code == 400


def test_state_that_was_never_issued_is_refused(launcher, registered):
    login = launcher.login("dep-a")
    token = registered.sign(registered.claims(nonce=login.nonce, deployment_id="dep-a"))
    assert launcher.post(token, "state-made-up").status_code == 400


def test_nonce_that_was_never_issued_is_refused(launcher, registered):
    login = launcher.login("dep-a")
    token = registered.sign(registered.claims(nonce="made-up-nonce", deployment_id="dep-a"))
    assert launcher.post(token, login.state).status_code == 400


def _signed(launcher, registered, *, key=None, headers=None, deployment_id="dep-a", **claims):
    login = launcher.login(deployment_id)
    nonce = claims.pop("nonce", login.nonce)
    body = registered.claims(nonce=nonce, deployment_id=deployment_id, **claims)
    return login, registered.sign(body, key=key, headers=headers)


def test_tampered_payload_is_refused(launcher, registered):
    _, token = _signed(launcher, registered, persona="student")
    header, _payload, signature = token.split(".")
    admin_login, admin_token = _signed(launcher, registered)
    forged = ".".join([header, admin_token.split(".")[1], signature])
    assert launcher.post(forged, admin_login.state).status_code == 400


def test_unsigned_token_is_refused(launcher, registered):
    login = launcher.login("dep-a")
    body = registered.claims(nonce=login.nonce, deployment_id="dep-a")
    unsigned = jwt.encode(body, None, algorithm="none", headers={"kid": registered.key.kid})
    assert launcher.post(unsigned, login.state).status_code == 400


def test_hs256_signed_with_the_public_key_is_refused(launcher, registered):
    login = launcher.login("dep-a")
    body = registered.claims(nonce=login.nonce, deployment_id="dep-a")
    header = {"alg": "HS256", "kid": registered.key.kid, "typ": "JWT"}

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(body).encode())
    signature = hmac.new(registered.key.public_pem(), signing_input.encode(), hashlib.sha256)
    token = signing_input + "." + b64(signature.digest())
    assert launcher.post(token, login.state).status_code == 400


def test_token_signed_by_another_key_with_the_platforms_kid_is_refused(launcher, registered):
    impostor = SigningKey(SigningKey.generate().private, registered.key.kid)
    login, token = _signed(launcher, registered, key=impostor)
    assert launcher.post(token, login.state).status_code == 400


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 3600},
        {"iat": int(time.time()) + 3600, "exp": int(time.time()) + 7200},
        {"aud": "another-tool"},
        {"azp": "another-tool"},
        {"iss": "https://evil.example"},
        {"sub": None},
        {"exp": None},
        {"nonce": None},
        {CLAIM + "roles": None},
        {CLAIM + "version": "1.1"},
        {CLAIM + "message_type": "LtiDeepLinkingRequest"},
        {CLAIM + "message_type": None},
        {CLAIM + "resource_link": None},
        {CLAIM + "deployment_id": None},
        {CLAIM + "roles": "not-a-list"},
        {CLAIM + "custom": ["garbage"], CLAIM + "roles": {"a": 1}},
    ],
    ids=[
        "expired",
        "iat-in-future",
        "wrong-aud",
        "azp-mismatch",
        "wrong-iss",
        "no-sub",
        "no-exp",
        "no-nonce",
        "no-roles",
        "wrong-version",
        "wrong-message-type",
        "no-message-type",
        "no-resource-link",
        "no-deployment",
        "roles-not-a-list",
        "garbage-claims",
    ],
)
def test_invalid_claims_are_refused(launcher, registered, claims):
    login, token = _signed(launcher, registered, **claims)
    response = launcher.post(token, login.state)
    assert response.status_code in (400, 403)
    assert "Traceback" not in response.get_data(as_text=True)
    if response.status_code == 400:
        assert NOT_VERIFIED in response.get_data(as_text=True)


def test_aud_list_with_this_tool_and_azp_is_accepted(launcher, registered):
    login, token = _signed(
        launcher, registered, aud=[registered.client_id, "other"], azp=registered.client_id
    )
    assert launcher.post(token, login.state).status_code == 303


def test_aud_list_without_azp_is_refused(launcher, registered):
    login, token = _signed(launcher, registered, aud=[registered.client_id, "other"], azp=None)
    assert launcher.post(token, login.state).status_code == 400


def test_unknown_deployment_is_refused(launcher, registered):
    login, token = _signed(launcher, registered, deployment_id="dep-unregistered")
    assert launcher.post(token, login.state).status_code == 400


@pytest.mark.parametrize(
    "id_token",
    ["", "garbage", "a.b.c", "W10.W10.sig", "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln"],
)
def test_garbage_id_token_is_refused(launcher, id_token):
    login = launcher.login("dep-a")
    response = launcher.post(id_token, login.state)
    assert response.status_code == 400
    assert NOT_VERIFIED in response.get_data(as_text=True)


def test_oversized_id_token_is_refused(launcher, registered):
    login, token = _signed(launcher, registered, padding="x" * 70_000)
    assert launcher.post(token, login.state).status_code in (400, 413)


def test_key_set_is_cached_between_launches(launcher, registered):
    before = registered.jwks_requests
    launcher.launch("dep-a")
    launcher.launch("dep-a")
    assert registered.jwks_requests - before == 1


@pytest.mark.parametrize("app_overrides", [{"JWKS_REFRESH_FLOOR_SECONDS": 0}])
def test_rotated_platform_key_is_fetched_when_a_launch_names_it(launcher, registered):
    launcher.launch("dep-a")  # the key set is cached now
    registered.rotate_key()
    before = registered.jwks_requests
    response = launcher.launch("dep-a")
    assert response.status_code == 303
    assert registered.jwks_requests - before == 1


def test_unknown_key_ids_do_not_refetch_the_key_set_more_than_the_floor_allows(
    launcher, registered
):
    launcher.launch("dep-a")
    before = registered.jwks_requests
    for _ in range(3):
        stranger = SigningKey.generate()
        login, token = _signed(launcher, registered, key=stranger)
        assert launcher.post(token, login.state).status_code == 400
    assert registered.jwks_requests == before


def _launch_with_key_set_at(client, platform, key_set_url: str):
    """Launch through a second registration of the platform whose key set lives at
    ``key_set_url``; returns the response and how long it took."""
    spec = registry.PlatformSpec(
        issuer=platform.issuer,
        client_id="client-with-broken-jwks",
        auth_login_url=platform.base_url + "/auth",
        auth_token_url=platform.base_url + "/token",
        key_set_url=key_set_url,
    )
    registry.register(spec, ["dep-broken"], "Broken JWKS College")
    original = platform.client_id
    platform.client_id = "client-with-broken-jwks"
    try:
        launcher = Launcher(client, platform)
        login = launcher.login("dep-broken")
        token = platform.sign(platform.claims(nonce=login.nonce, deployment_id="dep-broken"))
        started = time.monotonic()
        response = launcher.post(token, login.state)
    finally:
        platform.client_id = original
    return response, time.monotonic() - started


def test_unreachable_key_set_answers_503(client, platform):
    # The discard port: nothing listens there.
    response, elapsed = _launch_with_key_set_at(client, platform, "http://127.0.0.1:9/jwks")
    assert response.status_code == 503
    assert "could not reach Canvas" in response.get_data(as_text=True)
    assert elapsed < 10


@pytest.mark.parametrize("app_overrides", [{"JWKS_TIMEOUT_SECONDS": 1}])
def test_hanging_key_set_answers_503_within_the_timeout(client, platform):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts connections, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/jwks"
        response, elapsed = _launch_with_key_set_at(client, platform, url)
    assert response.status_code == 503
    assert elapsed < 5

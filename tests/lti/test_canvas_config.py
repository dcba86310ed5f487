"""What Canvas reads to install the tool: the developer key JSON and the tool's JWKS."""

from __future__ import annotations

import pytest
from jwcrypto.jwk import JWK


def test_config_json_describes_the_account_navigation_placement(client):
    config = client.get("/lti/config.json").json
    assert config["title"] == "SIS Integration"
    assert config["oidc_initiation_url"] == "https://localhost/lti/login"
    assert config["target_link_uri"] == "https://localhost/lti/launch"
    assert config["public_jwk_url"] == "https://localhost/lti/jwks"
    extension = config["extensions"][0]
    assert extension["privacy_level"] == "public"
    (placement,) = extension["settings"]["placements"]
    assert placement["placement"] == "account_navigation"
    assert placement["text"] == "SIS Integration"
    assert placement["message_type"] == "LtiResourceLinkRequest"
    assert placement["custom_fields"] == {
        "canvas_account_id": "$Canvas.account.id",
        "canvas_account_name": "$Canvas.account.name",
        "canvas_membership_roles": "$Canvas.membership.roles",
        "user_timezone": "$Person.address.timezone",
        "canvas_api_base_url": "$Canvas.api.baseUrl",
        "canvas_root_account_id": "$Canvas.rootAccount.id",
        "canvas_user_prefers_high_contrast": "$Canvas.user.prefersHighContrast",
        # No spaces in the list: Canvas splits it on "," and does not trim.
        "canvas_sis_permissions": "$Canvas.membership.permissions<import_sis,manage_sis,read_sis>",
        "canvas_masquerading_user_id": "$Canvas.masqueradingUser.id",
    }


@pytest.mark.parametrize("app_overrides", [{"TRUSTED_PROXIES": 1}])
def test_config_json_uses_the_proxy_forwarded_scheme_and_host(app):
    client = app.test_client()
    config = client.get(
        "/lti/config.json",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sis.example.edu"},
    ).json
    assert config["oidc_initiation_url"] == "https://sis.example.edu/lti/login"
    assert config["extensions"][0]["domain"] == "sis.example.edu"


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(app):
    config = (
        app.test_client().get("/lti/config.json", headers={"X-Forwarded-Host": "evil.example"}).json
    )
    assert "evil.example" not in config["oidc_initiation_url"]


def test_jwks_publishes_public_keys_only(client):
    keys = client.get("/lti/jwks").json["keys"]
    assert len(keys) == 1
    (key,) = keys
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert key["kid"]
    assert "d" not in key and "p" not in key
    assert not JWK(**key).has_private


def test_jwks_is_stable_between_requests(client):
    assert client.get("/lti/jwks").json == client.get("/lti/jwks").json

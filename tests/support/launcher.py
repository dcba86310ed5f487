"""Drive the tool's OIDC login and launch through the Flask test client, as a browser would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from lti_app.lti import registry

from .platform import TestPlatform


def platform_spec(platform: TestPlatform) -> registry.PlatformSpec:
    """What an administrator registers for the test platform."""
    return registry.PlatformSpec(
        issuer=platform.issuer,
        client_id=platform.client_id,
        auth_login_url=platform.base_url + "/auth",
        auth_token_url=platform.base_url + "/token",
        key_set_url=platform.base_url + "/jwks",
    )


class HttpsClient(FlaskClient):
    """A test client speaking https, as Canvas requires of tools (the state cookie is Secure)."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        kwargs.setdefault("base_url", "https://localhost")
        return super().open(*args, **kwargs)


def https_client(app: Flask) -> FlaskClient:
    app.test_client_class = HttpsClient
    return app.test_client()


@dataclass
class Login:
    state: str
    nonce: str
    response: TestResponse


class Launcher:
    """Logs in and launches against the tool on behalf of a ``TestPlatform``."""

    def __init__(self, client: FlaskClient, platform: TestPlatform) -> None:
        self.client = client
        self.platform = platform

    def login(
        self, deployment_id: str = "dep-a", *, top_level: bool = True, **params: str
    ) -> Login:
        query = {
            "iss": self.platform.issuer,
            "login_hint": "opaque-login-hint",
            "client_id": self.platform.client_id,
            "lti_deployment_id": deployment_id,
            "target_link_uri": "https://localhost/lti/launch",
            **params,
        }
        headers = {"Sec-Fetch-Dest": "document" if top_level else "iframe"}
        response = self.client.get("/lti/login", query_string=query, headers=headers)
        if response.status_code == 302:
            auth = parse_qs(urlsplit(response.location).query)
            return Login(auth["state"][0], auth["nonce"][0], response)
        if response.status_code == 200:
            html = response.get_data(as_text=True)
            return Login(_data_attr(html, "state"), _data_attr(html, "nonce"), response)
        return Login("", "", response)

    def post(self, id_token: str, state: str, **extra: str) -> TestResponse:
        return self.client.post("/lti/launch", data={"id_token": id_token, "state": state, **extra})

    def launch(
        self, deployment_id: str = "dep-a", *, persona: str = "admin", **claim_overrides: Any
    ) -> TestResponse:
        """A whole login + launch; claim overrides of None remove the claim."""
        login = self.login(deployment_id)
        claims = self.platform.claims(
            nonce=login.nonce, deployment_id=deployment_id, persona=persona, **claim_overrides
        )
        return self.post(self.platform.sign(claims), login.state)

    def admin_token(self, deployment_id: str = "dep-a", **claim_overrides: Any) -> str:
        """Launch as an account admin and return the launch token the tool hands out."""
        response = self.launch(deployment_id, **claim_overrides)
        assert response.status_code == 303, response.get_data(as_text=True)
        return parse_qs(urlsplit(response.location).query)["launch_token"][0]


def _data_attr(html: str, name: str) -> str:
    marker = f'data-{name}="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]

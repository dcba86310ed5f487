"""The OIDC login and the id_token launch, built on PyLTI1p3 and made to work in an iframe.

PyLTI1p3 keeps login state in the Flask session and a state cookie; a third-party iframe gets
neither back. Here:

* state parameters and nonces live in the database (``LoginRecord``), shared by every worker,
  and a nonce is deleted when a launch uses it, so a replayed launch is refused;
* the state cookie is ``Partitioned`` (CHIPS), which browsers keep in third-party frames;
* when the platform offers LTI postMessage storage (``lti_storage_target``), the state is also
  put there, and a launch whose cookie did not come back is checked against it in the browser.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import jwt
from flask import Response, current_app, g, request
from pylti1p3.contrib.flask import (
    FlaskCookieService,
    FlaskMessageLaunch,
    FlaskOIDCLogin,
    FlaskRequest,
    FlaskSessionService,
)
from pylti1p3.exception import LtiException, OIDCException
from pylti1p3.launch_data_storage.base import LaunchDataStorage
from sqlalchemy import delete

from ..extensions import db, rowcount
from ..i18n import negotiate
from ..timeutil import utcnow, zone_or_utc
from . import jwks_cache, permissions
from .errors import AwaitingApproval, LaunchRefused, NotAnAdmin
from .models import Launch, LoginRecord, Tenant
from .registry import DatabaseToolConf, adopt_deployment, find_tenant
from .roles import is_account_admin

log = logging.getLogger(__name__)

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"


class DatabaseLaunchDataStorage(LaunchDataStorage[Any]):
    """PyLTI1p3 launch data storage in the database, with no session cookie of its own."""

    def get_session_cookie_name(self) -> None:
        # No cookie names the storage: keys (state, nonce) are random and global.
        return None

    def can_set_keys_expiration(self) -> bool:
        return True

    def get_value(self, key: str) -> Any:
        record = db.session.get(LoginRecord, self._prepare_key(key))
        if record is None or record.expires_at <= utcnow():
            return None
        return record.value

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        ttl = exp or current_app.config["LOGIN_STATE_TTL"]
        db.session.merge(
            LoginRecord(
                key=self._prepare_key(key),
                value=value,
                expires_at=utcnow() + timedelta(seconds=ttl),
            )
        )
        db.session.commit()

    def check_value(self, key: str) -> bool:
        return self.get_value(key) is not None

    def consume(self, key: str) -> bool:
        """Delete a live key in one statement; True only for the one caller that deleted it."""
        result = db.session.execute(
            delete(LoginRecord).where(
                LoginRecord.key == self._prepare_key(key), LoginRecord.expires_at > utcnow()
            )
        )
        db.session.commit()
        return rowcount(result) == 1


def purge_expired_login_records() -> int:
    """Delete login records whose time is up; returns how many went."""
    result = db.session.execute(delete(LoginRecord).where(LoginRecord.expires_at <= utcnow()))
    db.session.commit()
    return rowcount(result)


class DatabaseSessionService(FlaskSessionService):
    """PyLTI1p3's session service over the database, with single-use nonces."""

    data_storage: DatabaseLaunchDataStorage

    def __init__(self, request: FlaskRequest) -> None:
        super().__init__(request)
        storage = DatabaseLaunchDataStorage()
        storage.set_request(request)
        self.set_data_storage(storage)
        self._launch_data_lifetime = current_app.config["LOGIN_STATE_TTL"]

    def check_nonce(self, nonce: str) -> bool:
        return self.data_storage.consume(self._get_key("nonce", nonce))


class PartitionedCookieService(FlaskCookieService):
    """The state cookie, set so a third-party iframe keeps it.

    ``SameSite=None; Secure; Partitioned`` (CHIPS): browsers that block third-party cookies
    still keep partitioned ones, per top-level site. Browsers treat http://localhost as secure,
    so this also holds in development; on other plain-http hosts only a top-level launch works.
    """

    def update_response(self, response: Response) -> None:
        host = request.host.split(":")[0]
        secure = request.is_secure or host in ("localhost", "127.0.0.1", "[::1]")
        # PyLTI1p3 declares the class attribute None; __init__ makes it a dict.
        to_set: dict[str, dict[str, Any]] = self._cookie_data_to_set or {}
        for key, data in to_set.items():
            response.set_cookie(
                key,
                str(data["value"]),
                max_age=data["exp"],
                path="/",
                httponly=True,
                secure=secure,
                samesite="None" if secure else "Lax",
                partitioned=secure,
            )


def _services() -> dict[str, Any]:
    flask_request = FlaskRequest()
    return {
        "request": flask_request,
        "tool_config": DatabaseToolConf(),
        "session_service": DatabaseSessionService(flask_request),
        "cookie_service": PartitionedCookieService(flask_request),
    }


@dataclass(frozen=True)
class LoginRedirect:
    """Where the browser goes next in the OIDC login, and what it must remember."""

    auth_url: str
    state: str
    nonce: str
    cookie_service: PartitionedCookieService

    def set_cookies(self, response: Response) -> Response:
        """Put the (partitioned) state cookie on the response that carries the redirect."""
        self.cookie_service.update_response(response)
        return response


def begin_login(launch_url: str, storage_target: str | None) -> LoginRedirect:
    """Validate an OIDC login initiation and prepare the redirect to the platform.

    Raises ``LaunchRefused`` for an unknown issuer or client, or a request missing its hints.
    """
    services = _services()
    login = FlaskOIDCLogin(**services)
    # The state's parameters are what the launch reads back to know how to check the state.
    login.pass_params_to_launch({"storage_target": storage_target or None})
    try:
        redirect = login.get_redirect_object(launch_url)
    except (OIDCException, LtiException) as exc:
        raise LaunchRefused(f"login: {exc}") from exc
    auth_url = redirect.get_redirect_url()
    query = parse_qs(urlsplit(auth_url).query)
    return LoginRedirect(
        auth_url=auth_url,
        state=query["state"][0],
        nonce=query["nonce"][0],
        cookie_service=services["cookie_service"],
    )


class ToolMessageLaunch(FlaskMessageLaunch):
    """PyLTI1p3's launch validation, tightened.

    Beyond PyLTI1p3: RS256 only; ``aud``, ``azp``, ``exp`` and ``iat`` are checked with a small
    leeway; the nonce is consumed only after the signature is verified (so forged tokens cannot
    burn real nonces); only resource link launches are accepted; the key set is cached and
    refetched when the token names an unknown key id.
    """

    state_checked_by: str = ""
    storage_target: str | None = None

    def validate(self) -> ToolMessageLaunch:
        self._validated = True
        try:
            id_token = self._get_id_token()
            if len(id_token) > current_app.config["LTI_MAX_ID_TOKEN_BYTES"]:
                raise LtiException("id_token is too large")
            (
                self.validate_state()
                .validate_jwt_format()
                .validate_registration()
                .validate_jwt_signature()
                .validate_deployment()
                .validate_message()
                .validate_nonce()
            )
        except LtiException as exc:
            self._validated = False
            raise LaunchRefused(str(exc)) from exc
        except (jwt.PyJWTError, ValueError, TypeError, AttributeError, KeyError) as exc:
            # Garbage in a field PyLTI1p3 expects to be an object or a string.
            self._validated = False
            raise LaunchRefused(f"malformed id_token: {exc!r}") from exc
        return self

    def validate_state(self) -> ToolMessageLaunch:
        state = self._get_request_param("state")
        if not state:
            raise LtiException("Missing state param")
        params = self._session_service.get_state_params(state)
        if not isinstance(params, dict):
            raise LtiException("State not found (unknown or expired login)")
        if self._cookie_service.get_cookie(state) == state:
            self.state_checked_by = "cookie"
        elif params.get("storage_target"):
            # No cookie came back, but the login put the state in the platform's storage:
            # the launch page checks it there before the tool opens.
            self.state_checked_by = "platform_storage"
            self.storage_target = params["storage_target"]
        else:
            raise LtiException("State not found (the browser did not return the state cookie)")
        return self

    def validate_jwt_format(self) -> ToolMessageLaunch:
        super().validate_jwt_format()
        if not isinstance(self._jwt.get("header"), dict) or not isinstance(
            self._jwt.get("body"), dict
        ):
            raise LtiException("Invalid JWT format, header and body must be objects")
        # The claims that name rows (platform, deployment) or are compared as text must be
        # text before anything looks them up: a list or a number is a forged or broken token.
        # Any token's claims, not yet known to be the launch PyLTI1p3's type describes.
        body = cast(dict[str, Any], self._jwt["body"])
        aud = body.get("aud")
        auds: list[Any] = aud if isinstance(aud, list) else [aud]
        if not auds or not all(isinstance(a, str) for a in auds):
            raise LtiException("aud must be a string or a list of strings")
        for name in ("iss", "sub", "nonce", CLAIM + "deployment_id"):
            if not isinstance(body.get(name), str):
                raise LtiException(f"{name} must be a string")
        if "azp" in body and not isinstance(body["azp"], str):
            raise LtiException("azp must be a string")
        return self

    def fetch_public_key(self, key_set_url: str, refresh: bool = False) -> Any:
        config = current_app.config
        return jwks_cache.get(
            key_set_url,
            max_age=config["JWKS_CACHE_SECONDS"],
            timeout=config["JWKS_TIMEOUT_SECONDS"],
            refresh_floor=config["JWKS_REFRESH_FLOOR_SECONDS"] if refresh else None,
        )

    def get_public_key(self) -> tuple[str, str]:
        assert self._registration is not None
        fetched = self._registration.get_key_set() is None
        try:
            return super().get_public_key()
        except LtiException:
            url = self._registration.get_key_set_url()
            if not (fetched and url):
                raise
        # The token names a key we do not hold: the platform may have rotated its keys.
        self._registration.set_key_set(self.fetch_public_key(url, refresh=True))
        return super().get_public_key()

    def validate_jwt_signature(self) -> ToolMessageLaunch:
        if self._jwt["header"].get("alg") != "RS256":
            raise LtiException("id_token must be signed with RS256")
        public_key, _ = self.get_public_key()
        client_id = self.get_client_id()
        try:
            claims = jwt.decode(
                self._get_id_token(),
                public_key,
                algorithms=["RS256"],
                audience=client_id,
                issuer=self.get_iss(),
                leeway=current_app.config["LTI_CLOCK_LEEWAY"],
                options={"require": ["iss", "aud", "exp", "iat", "sub", "nonce"]},
            )
        except jwt.InvalidTokenError as exc:
            raise LtiException(f"Can't decode id_token: {exc}") from exc
        aud = claims["aud"]
        azp = claims.get("azp")
        if (isinstance(aud, list) and len(aud) > 1 and not azp) or (azp and azp != client_id):
            raise LtiException("azp does not name this tool's client id")
        return self

    def validate_deployment(self) -> ToolMessageLaunch:
        try:
            super().validate_deployment()
        except LtiException:
            # A platform registered without a deployment records its first one here, after
            # the signature was verified.
            deployment_id = self._get_jwt_body().get(CLAIM + "deployment_id")
            if not isinstance(deployment_id, str) or not adopt_deployment(
                self.get_iss(), self.get_client_id(), deployment_id
            ):
                raise
        return self

    def validate_message(self) -> ToolMessageLaunch:
        message_type = self._get_jwt_body().get(CLAIM + "message_type")
        if message_type != RESOURCE_LINK_REQUEST:
            raise LtiException(f"Unsupported message type {message_type!r}")
        super().validate_message()
        return self

    def save_launch_data(self) -> ToolMessageLaunch:
        # The verified launch is stored as a Launch row by ``complete_launch``; PyLTI1p3's own
        # copy (and its "state already valid" marker, which would let a replay skip the state
        # check) is not kept.
        return self


def _text(value: Any, limit: int = 255) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _custom(custom: dict[str, Any], name: str) -> str | None:
    """A custom field's value, or None when Canvas left the ``$Variable`` unresolved."""
    value = custom.get(name)
    if not isinstance(value, str) or value.startswith("$"):
        return None
    return value


@dataclass(frozen=True)
class LaunchOutcome:
    """A verified admin launch, and how its OIDC state was (or still must be) checked."""

    launch: Launch
    state: str
    nonce: str
    state_checked_by: str
    storage_target: str | None


def complete_launch() -> LaunchOutcome:
    """Verify the launch POST and record it. Raises ``LaunchRefused`` or ``NotAnAdmin``."""
    message_launch = ToolMessageLaunch(**_services())
    # Verified, and still the platform's own words: each claim is checked as it is read.
    body = cast(dict[str, Any], message_launch.validate().get_launch_data())
    tenant = find_tenant(body["iss"], message_launch.get_client_id(), body[CLAIM + "deployment_id"])
    if tenant is None:  # removed between the deployment check and now
        raise LaunchRefused("deployment is not registered")
    if tenant.platform.status == "pending":
        raise AwaitingApproval(f"platform {tenant.platform.issuer} is pending approval")

    roles = body.get(CLAIM + "roles")
    custom = body.get(CLAIM + "custom")
    custom = custom if isinstance(custom, dict) else {}
    presentation = body.get(CLAIM + "launch_presentation")
    presentation = presentation if isinstance(presentation, dict) else {}
    # A refusal, too, is in the language and contrast of the verified launch.
    g.locale = negotiate(presentation.get("locale"))
    g.high_contrast = _custom(custom, "canvas_user_prefers_high_contrast") == "true"
    if not is_account_admin(roles, _custom(custom, "canvas_membership_roles")):
        raise NotAnAdmin(f"user {body.get('sub')!r} with roles {roles!r} is not an account admin")

    _learn_tenant_name(tenant, body)
    _learn_canvas_api(tenant, custom)
    context = body.get(CLAIM + "context")
    context = context if isinstance(context, dict) else {}
    timezone = _custom(custom, "user_timezone")
    launch = Launch(
        id=secrets.token_urlsafe(24),
        tenant=tenant,
        user_id=_text(body.get("sub")),
        user_name=_text(body.get("name"))
        or " ".join(filter(None, [_text(body.get("given_name")), _text(body.get("family_name"))]))
        or "Administrator",
        email=_text(body.get("email"), 320),
        roles=[role for role in roles or [] if isinstance(role, str)],
        account_id=_text(_custom(custom, "canvas_account_id") or context.get("id")),
        account_name=_text(_custom(custom, "canvas_account_name") or context.get("title")),
        timezone=zone_or_utc(timezone).key,
        locale=g.locale,
        high_contrast=g.high_contrast,
        sis_permissions=permissions.parse(_custom(custom, permissions.FIELD)),
        masquerading_user_id=_text(_custom(custom, "canvas_masquerading_user_id")) or None,
        expires_at=utcnow() + timedelta(seconds=current_app.config["LAUNCH_MAX_AGE"]),
    )
    db.session.add(launch)
    db.session.commit()
    return LaunchOutcome(
        launch=launch,
        state=message_launch._get_request_param("state"),
        nonce=body["nonce"],
        state_checked_by=message_launch.state_checked_by,
        storage_target=message_launch.storage_target,
    )


def _learn_canvas_api(tenant: Tenant, custom: dict[str, Any]) -> None:
    """Keep where the institution's Canvas API is and its root account (SIS imports live
    there), from ``$Canvas.api.baseUrl`` and ``$Canvas.rootAccount.id``."""
    base_url = _custom(custom, "canvas_api_base_url")
    if base_url and base_url.startswith(("https://", "http://")):
        tenant.canvas_api_base_url = base_url.strip().rstrip("/")[:1024]
    root_account = _custom(custom, "canvas_root_account_id")
    if root_account:
        tenant.canvas_root_account_id = _text(root_account, 64)


def _learn_tenant_name(tenant: Tenant, body: dict[str, Any]) -> None:
    """Name an unnamed tenant after the platform instance Canvas reports."""
    if tenant.name:
        return
    platform = body.get(CLAIM + "tool_platform")
    if isinstance(platform, dict) and _text(platform.get("name")):
        tenant.name = _text(platform.get("name"))

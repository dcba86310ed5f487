"""``/dev``: a built-in LTI platform for trying the tool without Canvas (development only).

It launches the tool through the real OIDC login and a signed id_token, exactly as Canvas would,
with a key of its own kept in ``instance/``. The platform page is served on one loopback name
and frames the tool on the other (127.0.0.1 <-> localhost), so the browser treats the tool as a
third party, as it does inside Canvas. It also answers LTI postMessage storage requests.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
from flask import Blueprint, abort, current_app, g, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer
from jwcrypto.jwk import JWK
from sqlalchemy import select

from ..extensions import db
from ..lti.models import Platform, Tenant
from ..lti.permissions import EXPANSION
from ..lti.roles import INSTITUTION_ADMINISTRATOR, SYSTEM_ADMINISTRATOR
from .standin import demo_canvas

bp = Blueprint("dev", __name__, url_prefix="/dev")
# The platform's Canvas side: OAuth2 and the SIS imports API, with a demo history.
CANVAS = demo_canvas()
bp.register_blueprint(CANVAS.blueprint("canvas"), url_prefix="/canvas")
CANVAS_PATH = "/dev/canvas"

ISSUER = "https://dev-platform.sis-integration.invalid"
CLIENT_ID = "sis-integration-dev"
# Relative, so the browser resolves it against whatever host and port the tool is served on.
AUTH_PATH = "/dev/auth"
LIS = "http://purl.imsglobal.org/vocab/lis/v2/"

# What Canvas sends as the admin's locale, to try each catalog and the fallbacks.
LOCALES = {
    "en": "English",
    "es": "Español",
    "es-MX": "Español (México): falls back to Spanish",
    "fr": "Français",
    "pt-BR": "Português (Brasil)",
    "de": "Deutsch: no catalog, falls back to English",
}

PERSONAS: dict[str, dict[str, Any]] = {
    "admin": {
        "label": "Account admin",
        "roles": [INSTITUTION_ADMINISTRATOR],
        "membership": "Account Admin",
    },
    "site_admin": {
        "label": "Site admin",
        "roles": [SYSTEM_ADMINISTRATOR],
        "membership": "$Canvas.membership.roles",
    },
    "other_branch_admin": {
        "label": "Sub-account admin of another branch",
        "roles": [INSTITUTION_ADMINISTRATOR],
        "membership": "",
    },
    "teacher": {
        "label": "Teacher",
        "roles": [LIS + "institution/person#Instructor", LIS + "membership#Instructor"],
        "membership": "TeacherEnrollment",
    },
    "ta": {
        "label": "Teaching assistant",
        "roles": [LIS + "membership/Instructor#TeachingAssistant"],
        "membership": "TaEnrollment",
    },
    "student": {
        "label": "Student",
        "roles": [LIS + "institution/person#Student", LIS + "membership#Learner"],
        "membership": "StudentEnrollment",
    },
    "observer": {
        "label": "Observer",
        "roles": [LIS + "membership#Mentor"],
        "membership": "ObserverEnrollment",
    },
    "none": {"label": "No roles", "roles": [], "membership": ""},
}


def _key_path() -> Path:
    return Path(current_app.instance_path) / "dev-platform-key.pem"


def platform_key() -> JWK:
    """The test platform's signing key, created in ``instance/`` the first time."""
    path = _key_path()
    if not path.exists():
        key = JWK.generate(kty="RSA", size=2048)
        path.write_bytes(key.export_to_pem(private_key=True, password=None))
        path.chmod(0o600)
    return JWK.from_pem(path.read_bytes())


def public_key_set() -> dict[str, Any]:
    """The test platform's JWKS, registered inline with the tool."""
    key = platform_key()
    public = json.loads(key.export_public())
    return {"keys": [{**public, "kid": key.thumbprint(), "alg": "RS256", "use": "sig"}]}


def _hints() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="sis-integration.dev-platform")


def _tool_origin() -> str:
    host, _, port = request.host.partition(":")
    other = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}.get(host, host)
    return f"{request.scheme}://{other}{':' + port if port else ''}"


def _dynamic_issuer() -> str:
    """The issuer the platform registers the tool under by Dynamic Registration: its own
    origin (the specification wants the configuration served from the issuer's host)."""
    return request.host_url.rstrip("/") + "/dev"


def _registration_tokens() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="sis-integration.dev-dr")


def _registration_token_ok() -> bool:
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    try:
        _registration_tokens().loads(token, max_age=3600)
    except BadSignature:
        return False
    return True


@bp.route("/")
def platform() -> str:
    """Pick a persona and launch the tool in an iframe, as Canvas's Account Navigation would."""
    tenants = db.session.scalars(
        select(Tenant)
        .join(Platform)
        .where(Platform.issuer.in_([ISSUER, _dynamic_issuer()]))
        .order_by(Tenant.id)
    ).all()
    registration_url = None
    if request.args.get("register"):
        # "+ LTI Registration": the tool's registration URL in a frame, as Canvas opens it.
        query = {
            "openid_configuration": request.host_url + "dev/registration/openid-configuration",
            "registration_token": _registration_tokens().dumps("dev"),
        }
        registration_url = _tool_origin() + url_for("lti.register") + "?" + urlencode(query)
        g.frame_sources = [_tool_origin()]
    choice = {
        "tenant": request.args.get("tenant", type=int) or (tenants[0].id if tenants else None),
        "persona": request.args.get("persona", "admin"),
        "name": request.args.get("name", "Avery Admin"),
        "account": request.args.get("account", ""),
        "timezone": request.args.get("timezone", "America/Denver"),
        "storage": request.args.get("storage", "1"),
        "locale": request.args.get("locale", "en"),
        "contrast": request.args.get("contrast", "0"),
        "permissions": request.args.get("permissions", "import_sis,manage_sis"),
    }
    login_url = None
    tenant = next((t for t in tenants if t.id == choice["tenant"]), None)
    if request.args.get("launch") and tenant is not None and choice["persona"] in PERSONAS:
        hint = _hints().dumps(
            {
                **choice,
                "deployment_id": tenant.deployment_id,
                "account": choice["account"] or tenant.display_name,
                "iss": tenant.platform.issuer,
                "client_id": tenant.platform.client_id,
            }
        )
        params = {
            "iss": tenant.platform.issuer,
            "login_hint": hint,
            "client_id": tenant.platform.client_id,
            "lti_deployment_id": tenant.deployment_id,
            "target_link_uri": _tool_origin() + url_for("lti.launch"),
        }
        if choice["storage"] == "1":
            params["lti_storage_target"] = "_parent"
        login_url = _tool_origin() + url_for("lti.login") + "?" + urlencode(params)
        g.frame_sources = [_tool_origin()]
    return render_template(
        "dev/platform.html",
        locales=LOCALES,
        tenants=tenants,
        personas=PERSONAS,
        choice=choice,
        login_url=login_url,
        registration_url=registration_url,
    )


@bp.get("/jwks")
def jwks() -> Any:
    """The platform's public keys, for tools that registered themselves."""
    return public_key_set()


@bp.get("/registration/openid-configuration")
def openid_configuration() -> Any:
    """The platform's OpenID configuration, in Canvas's shape, for Dynamic Registration."""
    if not _registration_token_ok():
        return {"errors": [{"message": "Invalid registration token"}]}, 401
    origin = request.host_url.rstrip("/")
    return {
        "issuer": _dynamic_issuer(),
        "authorization_endpoint": origin + AUTH_PATH,
        "registration_endpoint": origin + "/dev/registration/register",
        "jwks_uri": origin + "/dev/jwks",
        "token_endpoint": origin + "/dev/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["id_token"],
        "claims_supported": ["sub", "name", "given_name", "family_name", "email", "locale"],
        "https://purl.imsglobal.org/spec/lti-platform-configuration": {
            "product_family_code": "canvas",
            "version": "dev",
            "messages_supported": [
                {
                    "type": "LtiResourceLinkRequest",
                    "placements": ["https://canvas.instructure.com/lti/account_navigation"],
                }
            ],
            "https://canvas.instructure.com/lti/account_name": "Dynamic Demo College",
        },
    }


@bp.post("/registration/register")
def registration_endpoint() -> Any:
    """Canvas's registration endpoint: a new client id, and the deployment at the top level."""
    if not _registration_token_ok():
        return {"errors": [{"message": "Invalid registration token"}]}, 401
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not body.get("initiate_login_uri"):
        return {"errors": [{"message": "initiate_login_uri is required"}]}, 422
    suffix = uuid.uuid4().hex[:8]
    return {**body, "client_id": f"dev-dynamic-{suffix}", "deployment_id": f"dev-dyn-{suffix}"}


@bp.route("/auth")
def auth() -> str:
    """The platform's OIDC authorization endpoint: sign an id_token and post it to the tool."""
    try:
        hint = _hints().loads(request.args.get("login_hint", ""))
    except BadSignature:
        abort(400)
    redirect_uri = request.args.get("redirect_uri", "")
    client_id = hint.get("client_id", CLIENT_ID)
    if request.args.get("client_id") != client_id or not redirect_uri.endswith(
        url_for("lti.launch")
    ):
        abort(400)
    persona = PERSONAS[hint["persona"]]
    permissions = hint.get("permissions", "import_sis,manage_sis")
    now = int(time.time())
    claims = {
        "iss": hint.get("iss", ISSUER),
        "aud": client_id,
        "azp": client_id,
        "sub": f"dev-{hint['persona']}",
        "iat": now,
        "exp": now + 300,
        "nonce": request.args.get("nonce", ""),
        "name": hint["name"],
        # An address the development mailbox (/dev/mail) receives like any other.
        "email": hint["name"].lower().replace(" ", ".") + "@example.edu",
        "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest",
        "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
        "https://purl.imsglobal.org/spec/lti/claim/deployment_id": hint["deployment_id"],
        "https://purl.imsglobal.org/spec/lti/claim/target_link_uri": redirect_uri,
        "https://purl.imsglobal.org/spec/lti/claim/resource_link": {"id": "account-navigation"},
        "https://purl.imsglobal.org/spec/lti/claim/roles": persona["roles"],
        "https://purl.imsglobal.org/spec/lti/claim/tool_platform": {
            "guid": "dev-platform",
            "name": "SIS Integration test platform",
            "product_family_code": "canvas",
        },
        "https://purl.imsglobal.org/spec/lti/claim/launch_presentation": {
            "document_target": "iframe",
            "locale": hint.get("locale", "en"),
        },
        "https://purl.imsglobal.org/spec/lti/claim/custom": {
            "canvas_account_id": str(uuid.uuid5(uuid.NAMESPACE_URL, hint["account"]).int % 1000),
            "canvas_account_name": hint["account"],
            "canvas_membership_roles": persona["membership"],
            "user_timezone": hint["timezone"],
            # The tool's own host serves the stand-in Canvas (the iframe's origin).
            "canvas_api_base_url": request.host_url.rstrip("/") + CANVAS_PATH,
            "canvas_root_account_id": "1",
            "canvas_user_prefers_high_contrast": "true" if hint.get("contrast") == "1" else "false",
            # As Canvas expands $Canvas.membership.permissions<…>; "absent": as a developer key
            # made before the tool asked for it (the variable comes back unexpanded).
            "canvas_sis_permissions": (
                EXPANSION if permissions == "absent" else permissions
            ),
        },
    }
    key = platform_key()
    id_token = jwt.encode(
        claims,
        key.export_to_pem(private_key=True, password=None),
        algorithm="RS256",
        headers={"kid": key.thumbprint()},
    )
    fields = {"id_token": id_token, "state": request.args.get("state", "")}
    if hint.get("storage") == "1":
        fields["lti_storage_target"] = "_parent"
    return render_template("dev/autopost.html", action=redirect_uri, fields=fields)

"""A small, independent LTI 1.3 platform for the tests: real RSA keys, real signed id_tokens,
a real HTTP server for its JWKS, and (for the browser tests) a course page that frames the tool,
an OIDC authorization endpoint and, optionally, LTI postMessage storage.

It shares no code with the tool, so the tool is tested against what a platform really sends.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, request
from markupsafe import escape

from tests.support.servers import Served

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
ADMIN = LIS + "institution/person#Administrator"
SYSADMIN = LIS + "system/person#SysAdmin"

# persona: (LTI roles, $Canvas.membership.roles as Canvas resolves it)
PERSONAS: dict[str, tuple[list[str], str]] = {
    "admin": ([ADMIN, LIS + "institution/person#Instructor"], "Account Admin"),
    "site_admin": ([SYSADMIN, LIS + "system/person#User"], "$Canvas.membership.roles"),
    "admin_unresolved": ([ADMIN], "$Canvas.membership.roles"),
    "other_branch_admin": ([ADMIN], ""),
    "teacher": (
        [LIS + "institution/person#Instructor", LIS + "membership#Instructor"],
        "TeacherEnrollment",
    ),
    "ta": ([LIS + "membership/Instructor#TeachingAssistant"], "TaEnrollment"),
    "student": (
        [LIS + "institution/person#Student", LIS + "membership#Learner"],
        "StudentEnrollment",
    ),
    "observer": ([LIS + "membership#Mentor"], "ObserverEnrollment"),
    "no_roles": ([], ""),
}


# The account page's answer to lti.capabilities, and the frame that keeps the data, as Canvas
# has them (Canvas names its storage frame "post_message_forwarding").
STORAGE_FRAME = """
<iframe name="post_message_forwarding" src="/storage" title="storage" hidden></iframe>
<script>
window.addEventListener("message", (e) => {
  if (!e.data || e.data.subject !== "lti.capabilities") return;
  e.source.postMessage({
    subject: "lti.capabilities.response", message_id: e.data.message_id,
    supported_messages: [
      {subject: "lti.capabilities"},
      {subject: "lti.put_data", frame: "post_message_forwarding"},
      {subject: "lti.get_data", frame: "post_message_forwarding"},
    ],
  }, e.origin);
});
</script>
"""

FRAME_RESIZE = """
<script>
window.resizes = [];
window.addEventListener("message", (e) => {
  if (!e.data || e.data.subject !== "lti.frameResize") return;
  window.resizes.push(e.data.height);
  document.getElementById("tool").style.height = e.data.height + "px";
});
</script>
"""

STORAGE_PAGE = """<!doctype html>
<script>
const store = {};
window.addEventListener("message", (e) => {
  const d = e.data;
  if (!d || typeof d !== "object") return;
  const own = store[e.origin] = store[e.origin] || {};
  const reply = {subject: d.subject + ".response", message_id: d.message_id, key: d.key};
  if (d.subject === "lti.put_data") { own[d.key] = d.value; reply.value = d.value; }
  else if (d.subject === "lti.get_data") { reply.value = own[d.key]; }
  else return;
  e.source.postMessage(reply, e.origin);
});
</script>
"""


@dataclass
class SigningKey:
    private: rsa.RSAPrivateKey
    kid: str

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), uuid.uuid4().hex)

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"}


@dataclass
class TestPlatform:
    """An LTI platform with one developer key (client id) and its own HTTP server."""

    client_id: str = "10000000000001"
    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.generate()])
    storage: bool = True
    jwks_requests: int = 0
    base_url: str = ""
    tool_url: str = ""
    # More custom fields for every launch, as a Canvas whose variables resolve to them, and
    # the admin's locale (launch_presentation), as Canvas sends it.
    extra_custom: dict[str, str] = field(default_factory=dict)
    locale: str | None = None
    # Dynamic Registration, as Canvas answers it: the token it handed out, what it received,
    # and knobs for its misbehaviours (see ``registration_endpoints``).
    registration_token: str = "registration-token-1"
    registrations: list[dict[str, Any]] = field(default_factory=list)
    registration: dict[str, Any] = field(default_factory=dict)
    _server: Any = None

    __test__ = False  # not a test class

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def key(self) -> SigningKey:
        return self.keys[-1]

    def rotate_key(self, keep_old: bool = False) -> SigningKey:
        """Start signing with a new key (the JWKS serves it from now on)."""
        new = SigningKey.generate()
        self.keys = [*self.keys, new] if keep_old else [new]
        return new

    # --- id_tokens -----------------------------------------------------------------------

    def claims(
        self,
        *,
        nonce: str,
        deployment_id: str,
        persona: str = "admin",
        name: str = "Avery Admin",
        timezone: str = "America/Denver",
        account: str = "Alpha College",
        **overrides: Any,
    ) -> dict[str, Any]:
        roles, membership = PERSONAS[persona]
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "azp": self.client_id,
            "sub": f"user-{persona}",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "name": name,
            "email": "avery.admin@alpha.example.edu",
            CLAIM + "message_type": "LtiResourceLinkRequest",
            CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": deployment_id,
            CLAIM + "target_link_uri": self.tool_url + "/lti/launch",
            CLAIM + "resource_link": {"id": "account-nav-1"},
            CLAIM + "roles": roles,
            CLAIM + "context": {"id": "ctx-1", "title": account, "type": ["Account"]},
            CLAIM + "tool_platform": {"guid": "platform-guid", "name": "Test Canvas"},
            CLAIM + "custom": {
                "canvas_account_id": "1",
                "canvas_account_name": account,
                "canvas_membership_roles": membership,
                "user_timezone": timezone,
                **self.extra_custom,
            },
        }
        if self.locale:
            claims[CLAIM + "launch_presentation"] = {
                "document_target": "iframe",
                "locale": self.locale,
            }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(
        self,
        claims: dict[str, Any],
        key: SigningKey | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        key = key or self.key
        # The key object itself: from PEM text it would be parsed and checked on every call.
        return jwt.encode(
            claims, key.private, algorithm="RS256", headers={"kid": key.kid, **(headers or {})}
        )

    # --- the HTTP server -------------------------------------------------------------------

    def wsgi(self) -> Flask:
        app = Flask("test_platform")
        platform = self

        @app.get("/jwks")
        def jwks() -> Any:
            platform.jwks_requests += 1
            return {"keys": [key.jwk() for key in platform.keys]}

        @app.get("/course")
        def course() -> Response:
            # The account page: the tool in an iframe, started by a third-party login.
            deployment = request.args.get("deployment", "dep-a")
            params = {
                "iss": platform.issuer,
                "login_hint": request.args.get("persona", "admin") + "|" + deployment,
                "client_id": platform.client_id,
                "lti_deployment_id": deployment,
                "target_link_uri": platform.tool_url + "/lti/launch",
            }
            if platform.storage:
                params["lti_storage_target"] = "post_message_forwarding"
            src = platform.tool_url + "/lti/login?" + urlencode(params)
            # The page itself answers lti.capabilities; the named frame keeps the data. It
            # keeps the tool's lti.frameResize messages, and sizes the frame by them as Canvas.
            storage_frame = (STORAGE_FRAME if platform.storage else "") + FRAME_RESIZE
            return Response(
                "<!doctype html><html lang='en'><head><title>Test Canvas</title></head><body>"
                "<h1>Test Canvas: Account</h1>"
                f"{storage_frame}"
                f"<iframe id='tool' name='tool' title='SIS Integration' src='{escape(src)}' "
                "allow='clipboard-write' style='width:1200px;height:900px'></iframe></body></html>",
                mimetype="text/html",
            )

        self.registration_endpoints(app)

        @app.get("/developer-keys")
        def developer_keys() -> Response:
            # Canvas's "+ LTI Registration": the tool's registration URL in a frame, and the
            # messages the frame posts (org.imsglobal.lti.close) kept for the test to read.
            query = urlencode(
                {
                    "openid_configuration": platform.base_url + "/.well-known/openid-configuration",
                    "registration_token": platform.registration_token,
                }
            )
            src = platform.tool_url + "/lti/register?" + query
            return Response(
                "<!doctype html><html lang='en'><head><title>Test Canvas</title></head><body>"
                "<h1>Developer Keys</h1><p id='closed'></p>"
                "<script>window.received = []; window.addEventListener('message', (e) => {"
                " window.received.push(e.data);"
                " if (e.data && e.data.subject === 'org.imsglobal.lti.close')"
                " document.getElementById('closed').textContent = 'Registration closed'; });"
                "</script>"
                f"<iframe id='registration' title='Register' src='{escape(src)}' "
                "style='width:1000px;height:800px'></iframe></body></html>",
                mimetype="text/html",
            )

        @app.get("/storage")
        def storage() -> Response:
            # Canvas's post_message_forwarding frame: keeps values per tool origin.
            return Response(STORAGE_PAGE, mimetype="text/html")

        @app.get("/auth")
        def auth() -> Response:
            # The OIDC authorization endpoint: answer with a form_post of a signed id_token.
            persona, _, deployment = request.args["login_hint"].partition("|")
            claims = platform.claims(
                nonce=request.args["nonce"], deployment_id=deployment, persona=persona
            )
            fields = {"id_token": platform.sign(claims), "state": request.args["state"]}
            inputs = "".join(
                f"<input type='hidden' name='{k}' value='{escape(v)}'>" for k, v in fields.items()
            )
            action = escape(request.args["redirect_uri"])
            return Response(
                "<!doctype html><html lang='en'><body>"
                f"<form id='f' method='post' action='{action}'>{inputs}</form>"
                "<script>document.getElementById('f').submit()</script></body></html>",
                mimetype="text/html",
            )

        return app

    def openid_configuration(self) -> dict[str, Any]:
        """Canvas's OpenID configuration, in its documented shape."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.base_url + "/auth",
            "registration_endpoint": self.base_url + "/registrations",
            "jwks_uri": self.base_url + "/jwks",
            "token_endpoint": self.base_url + "/token",
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"],
            "response_types_supported": ["id_token"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "name", "given_name", "family_name", "locale"],
            "subject_types_supported": ["public"],
            "authorization_server": "127.0.0.1",
            "https://purl.imsglobal.org/spec/lti-platform-configuration": {
                "product_family_code": "canvas",
                "version": "cloud",
                "messages_supported": [
                    {
                        "type": "LtiResourceLinkRequest",
                        "placements": [
                            "https://canvas.instructure.com/lti/account_navigation",
                            "https://canvas.instructure.com/lti/course_navigation",
                        ],
                    },
                    {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea"]},
                ],
                "variables": ["Canvas.api.baseUrl", "Canvas.rootAccount.id"],
                "https://canvas.instructure.com/lti/account_name": "Alpha College Canvas",
                "https://canvas.instructure.com/lti/account_lti_guid": "alpha:canvas-lms",
            },
        }

    def registration_endpoints(self, app: Flask) -> None:
        """The OpenID configuration and registration endpoints. ``self.registration`` bends
        them: ``config`` (dict merged into the configuration), ``config_answer`` (redirect,
        oversize, html), ``answer`` (canvas: deployment at the top level; spec: inside the
        tool configuration; none), ``refuse`` (a 422 with Canvas's error body)."""
        platform = self

        def authorised() -> bool:
            return request.headers.get("Authorization") == f"Bearer {platform.registration_token}"

        @app.get("/.well-known/openid-configuration")
        def openid_configuration() -> Any:
            if not authorised():
                return {"errors": [{"message": "Invalid registration token"}]}, 401
            mode = platform.registration.get("config_answer")
            if mode == "redirect":
                return Response("", 302, {"Location": platform.base_url + "/elsewhere"})
            if mode == "oversize":
                return {"padding": "x" * (400 * 1024), **platform.openid_configuration()}
            if mode == "html":
                return Response("<html>Canvas is down for maintenance</html>", 200)
            return {**platform.openid_configuration(), **platform.registration.get("config", {})}

        @app.post("/registrations")
        def registrations() -> Any:
            if not authorised():
                return {"errors": [{"message": "Invalid registration token"}]}, 401
            body = request.get_json()
            platform.registrations.append(body)
            if platform.registration.get("refuse"):
                return {"errors": [{"message": platform.registration["refuse"]}]}, 422
            tool = dict(body["https://purl.imsglobal.org/spec/lti-tool-configuration"])
            answer = {**body, "client_id": platform.client_id}
            mode = platform.registration.get("answer", "canvas")
            if mode == "canvas":
                answer["deployment_id"] = "dep-dynamic"
            elif mode == "spec":
                tool["deployment_id"] = "dep-dynamic"
            answer["https://purl.imsglobal.org/spec/lti-tool-configuration"] = tool
            return answer

    def start(self, host: str = "127.0.0.1") -> TestPlatform:
        self._server = Served(self.wsgi(), host)
        self.base_url = f"http://{host}:{self._server.port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

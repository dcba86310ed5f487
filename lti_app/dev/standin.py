"""A stand-in for Canvas's OAuth2 endpoints and SIS imports API, built from Canvas's documented
shapes: the ``/dev`` platform's "Canvas" side, and the Canvas the tests talk to over real HTTP.
Development and tests only: no production code path imports it.

What it does as Canvas does: ``/login/oauth2/auth`` (an approval page) and
``/login/oauth2/token`` (codes, refresh tokens, the ``user`` in the answer, no new refresh token
on refresh); ``GET /api/v1/accounts/:id/sis_imports`` newest first as ``{"sis_imports": [...]}``
with ``created_since``/``created_before``, ``per_page`` up to 100 and absolute ``Link`` headers;
``GET .../sis_imports/:id``; ``GET .../sis_imports/:id/errors`` as ``{"sis_import_errors":
[...]}`` with the ``failure`` filter, paged the same way, and nothing once the import ended 30 days
ago (Canvas keeps error rows that long); ``X-Rate-Limit-Remaining`` on every answer; 401 with
``WWW-Authenticate`` for a bad token, and 401 "Insufficient scopes on access token." without it
for a token granted without the errors scope. Faults (rate limits, 5xx, slow answers) are queued
on demand.

Acting on imports, as ``app/controllers/sis_imports_api_controller.rb`` and
``app/models/sis_batch.rb`` do: ``PUT .../sis_imports/:id/restore_states`` (``manage_sis``
only; ``undelete_only`` with ``unconclude_only`` is a plain-text 400; answers a Progress that
goes queued → running → completed while the import goes restoring → restored, or
partially_restored with any flag, its ``data.statistics.<Model>.restored`` recomputed);
``PUT .../sis_imports/:id/abort`` (``import_sis`` or ``manage_sis``; only initializing, created,
importing and cleanup_batch, else 404; answers the import, now aborted);
``PUT .../sis_imports/abort_all_pending`` (queued imports only; ``{"aborted": true}``);
``GET /api/v1/progress/:id``. A token without the action scopes gets the insufficient-scope
401; one whose user lacks the permission gets Canvas's "user not authorized" 401 (403 with
``newer_auth_errors``, as Canvases with ``api_auth_error_updates`` answer).
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, abort, jsonify, redirect, request
from markupsafe import escape

FINAL_STATES = {
    "imported": "imported",
    "imported_with_messages": "imported_with_messages",
    "failed": "failed",
    "failed_with_messages": "failed_with_messages",
    "aborted": "aborted",
    "restored": "restored",
    "partially_restored": "partially_restored",
}


def iso(value: datetime) -> str:
    """A time as Canvas writes it: ISO 8601 to the second, with the zone."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sis_import(
    import_id: int,
    created_at: datetime,
    *,
    state: str = "imported",
    progress: int = 100,
    user: str | None = "Integration Service",
    import_type: str = "instructure_csv",
    errors: list[list[str]] | None = None,
    warnings: list[list[str]] | None = None,
    users_created: int = 12,
    enrollments_created: int = 40,
    enrollments_deleted: int = 0,
    courses_concluded: int = 0,
) -> dict[str, Any]:
    """A SisImport object as Canvas documents it."""
    running = state not in FINAL_STATES
    ended = None if running else created_at + timedelta(minutes=4)
    document: dict[str, Any] = {
        "id": import_id,
        "created_at": iso(created_at),
        "ended_at": iso(ended) if ended else None,
        "updated_at": iso(ended or created_at + timedelta(minutes=1)),
        "workflow_state": state,
        "data": {
            "import_type": import_type,
            "supplied_batches": ["user", "enrollment"],
            "counts": {
                "accounts": 0,
                "terms": 0,
                "courses": 0,
                "sections": 0,
                "users": users_created + 3,
                "enrollments": enrollments_created + 5,
                "error_count": len(errors or []),
                "warning_count": len(warnings or []),
            },
            # Inside ``data``, as Canvas's SisBatch#as_json puts it (not at the top level).
            "statistics": {
                "total_state_changes": users_created + enrollments_created + enrollments_deleted
                + courses_concluded + 2,
                "Course": {
                    "created": 0,
                    "concluded": courses_concluded,
                    "deactivated": 0,
                    "restored": 0,
                    "deleted": 0,
                },
                "User": {
                    "created": users_created,
                    "concluded": 0,
                    "deactivated": 0,
                    "restored": 1,
                    "deleted": 0,
                },
                "Enrollment": {
                    "created": enrollments_created,
                    "concluded": 0,
                    "deactivated": 1,
                    "restored": 0,
                    "deleted": enrollments_deleted,
                },
            },
        },
        "progress": progress,
        "errors_attachment": None,
        "user": {"id": 7, "name": user, "sortable_name": user} if user else None,
        "processing_warnings": warnings or [],
        "processing_errors": errors or [],
        "batch_mode": False,
        "batch_mode_term_id": None,
        "multi_term_batch_mode": False,
        "skip_deletes": False,
        "override_sis_stickiness": False,
        "add_sis_stickiness": False,
        "clear_sis_stickiness": False,
        "diffing_data_set_identifier": None,
        "diffed_against_import_id": None,
        "csv_attachments": [],
    }
    return document


@dataclass
class Fault:
    """One queued misbehaviour: an answer with this status (and body), or a slow answer."""

    status: int = 500
    body: str = '{"errors":[{"message":"An error occurred."}]}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def rate_limited() -> Fault:
    """Canvas's own throttling answer: 403 with this exact text."""
    return Fault(403, "403 Forbidden (Rate Limit Exceeded)\n", {"X-Rate-Limit-Remaining": "0.0"})


@dataclass
class StandInCanvas:
    """One Canvas: accounts with SIS import histories, an OAuth2 client and issued tokens."""

    client_id: str = "10000000000042"
    client_secret: str = "stand-in-client-secret"  # noqa: S105
    user_name: str = "Morgan Registrar"
    access_token_ttl: int = 3600
    imports: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # account -> imports
    # import id -> its error rows, newest first: file, message, row, row_info and ``failure``
    errors: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    # Tokens granted without the errors scope (made before the tool asked for it): they lack
    # the action scopes too. And tokens granted with the errors scope but not the actions'.
    scopeless: set[str] = field(default_factory=set)
    actionless: set[str] = field(default_factory=set)
    # What each token's user may do to SIS imports (a token not named: both permissions).
    permissions: dict[str, set[str]] = field(default_factory=dict)
    newer_auth_errors: bool = False  # answer "not authorized" with 403, not 401
    # Undo: Progress objects by id, each with its import and flags, and how long one takes.
    progresses: dict[int, dict[str, Any]] = field(default_factory=dict)
    restore_seconds: float = 3.0
    # The clock an undo's phases follow (a test moves one by hand, a round at a time).
    clock: Callable[[], float] = time.monotonic
    # Every PUT (an action) as (path, form), in order.
    actions: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    # Imports an SIS agent created (POST .../sis_imports): their parameters, and how long
    # one takes to run (it is created, then imported).
    created: list[dict[str, str]] = field(default_factory=list)
    import_seconds: float = 0.5
    _next_import: int = 70_000
    refresh_tokens: set[str] = field(default_factory=set)
    refuse_accounts: dict[str, tuple[int, str]] = field(default_factory=dict)
    faults: deque[Fault] = field(default_factory=deque)
    rate_limit_remaining: float = 700.0
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    # Called with each request's path and query before it is answered (a test's hand on the
    # moment: a worker killed while a page is on its way).
    on_request: Callable[[str, dict[str, str]], None] | None = None
    # (monotonic time, account, import): put when its time comes, so an import can finish.
    scripted: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    _codes: dict[str, str] = field(default_factory=dict)  # code -> redirect_uri
    # codes and refresh tokens granted without the errors scope, or the action scopes
    _narrow: set[str] = field(default_factory=set)
    _no_actions: set[str] = field(default_factory=set)
    _next_progress: int = 900
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- state the tests and the demo set -------------------------------------------------

    def issue_token(
        self, *, errors_scope: bool = True, action_scopes: bool = True, may: set[str] | None = None
    ) -> str:
        """A user access token, as one made by hand in Canvas's profile settings (or granted
        without the errors scope, or the action scopes), of a user who holds ``may`` of
        import_sis and manage_sis (both unless told)."""
        token = "7~" + secrets.token_urlsafe(24)
        self.tokens.add(token)
        if not errors_scope:
            self.scopeless.add(token)
        if not action_scopes:
            self.actionless.add(token)
        if may is not None:
            self.permissions[token] = may
        return token

    def find(self, account: str, import_id: int) -> dict[str, Any] | None:
        """An import of the account, as stored (callers hold the lock)."""
        return next((d for d in self.imports.get(account, []) if d["id"] == import_id), None)

    def advance(self) -> None:
        """Move each undo on by the clock: queued for its first fifth, then running (the import
        restoring), then done (restored, or partially restored with any flag)."""
        with self._lock:
            for progress in self.progresses.values():
                if progress["workflow_state"] in ("completed", "failed"):
                    continue
                share = (self.clock() - progress["_started"]) / max(self.restore_seconds, 0.01)
                document = self.find(progress["_account"], progress["context_id"])
                if share < 0.2:
                    continue
                progress["updated_at"] = iso(datetime.now(UTC))
                if share < 1 and document is not None:
                    progress["workflow_state"] = "running"
                    progress["completion"] = round(min(share, 0.99) * 100, 1)
                    if document["workflow_state"] != "restoring":
                        document["workflow_state"] = "restoring"
                        document["updated_at"] = progress["updated_at"]
                    continue
                progress["workflow_state"], progress["completion"] = "completed", 100.0
                if document is not None:
                    flags = progress["_flags"]
                    document["workflow_state"] = (
                        "partially_restored" if any(flags.values()) else "restored"
                    )
                    document["updated_at"] = progress["updated_at"]
                    _count_restored(document, flags)

    def add_errors(
        self, import_id: int, failures: int, warnings: int = 0, *, file: str = "enrollments.csv"
    ) -> list[dict[str, Any]]:
        """Error rows for an import, as its CSV would cause them: ``failures`` rows that
        failed it and ``warnings`` others, interleaved as Canvas lists them."""
        total = failures + warnings
        rows = []
        for n in range(total):
            failure = (n * failures) // total != ((n + 1) * failures) // total
            rows.append(
                {
                    "sis_import_id": import_id,
                    "file": file,
                    "message": (
                        f"Course BIO-{100 + n % 400} not found for enrollment of U{10_000 + n}"
                        if failure
                        else f"User U{10_000 + n} has no email address"
                    ),
                    "row": n + 2,  # 1-based, the header is row 1
                    "row_info": f"BIO-{100 + n % 400},U{10_000 + n},student,active",
                    "failure": failure,
                }
            )
        with self._lock:
            self.errors[import_id] = rows
            for history in self.imports.values():
                for document in history:
                    if document["id"] == import_id:
                        counts = document["data"]["counts"]
                        counts["error_count"], counts["warning_count"] = failures, warnings
        return rows

    def add_history(
        self, account: str, count: int, *, start_id: int = 1000, **options: Any
    ) -> None:
        """``count`` finished imports, one an hour back from now, ids ascending with time."""
        now = datetime.now(UTC).replace(microsecond=0)
        with self._lock:
            history = self.imports.setdefault(account, [])
            for n in range(count):
                created = now - timedelta(hours=count - n)
                history.append(sis_import(start_id + n, created, **options))

    def put(self, account: str, document: dict[str, Any]) -> None:
        """Add an import, or replace the one with the same id."""
        with self._lock:
            history = self.imports.setdefault(account, [])
            history[:] = [d for d in history if d["id"] != document["id"]] + [document]

    # --- HTTP ------------------------------------------------------------------------------

    def blueprint(self, name: str = "standin_canvas", url_prefix: str = "") -> Blueprint:
        bp = Blueprint(name, __name__, url_prefix=url_prefix)
        canvas = self

        @bp.before_request
        def record_and_misbehave() -> Any:
            canvas.requests.append((request.path, request.args.to_dict()))
            if request.method == "PUT":
                canvas.actions.append((request.path, request.form.to_dict()))
            canvas.advance()
            if canvas.on_request is not None:
                canvas.on_request(request.path, request.args.to_dict())
            due = [entry for entry in canvas.scripted if entry[0] <= time.monotonic()]
            for entry in due:
                canvas.scripted.remove(entry)
                canvas.put(entry[1], entry[2])
            if request.path.endswith(("/login/oauth2/auth",)):
                return None
            if canvas.faults:
                fault = canvas.faults.popleft()
                time.sleep(fault.delay)
                if fault.status:
                    return Response(fault.body, fault.status, headers=fault.headers)
            return None

        @bp.after_request
        def rate_limit_header(response: Response) -> Response:
            response.headers.setdefault(
                "X-Rate-Limit-Remaining", f"{canvas.rate_limit_remaining:.1f}"
            )
            return response

        @bp.get("/login/oauth2/auth")
        def authorize() -> Any:
            if request.args.get("client_id") != canvas.client_id:
                abort(400)
            params = {k: request.args.get(k, "") for k in ("redirect_uri", "state", "scope")}
            decide = request.base_url + "/decide?"
            approve = escape(decide + urlencode({**params, "approve": "1"}))
            deny = escape(decide + urlencode({**params, "approve": "0"}))
            return (
                "<!doctype html><html lang='en'><head><title>Authorize · Canvas</title></head>"
                "<body>"
                "<main><h1>SIS Integration is requesting access to your account</h1>"
                f"<p>Scopes: {escape(params['scope'])}</p>"
                f"<p><a id='authorize' href='{approve}'>Authorize</a> "
                f"<a id='cancel' href='{deny}'>Cancel</a></p>"
                "</main></body></html>"
            )

        @bp.get("/login/oauth2/auth/decide")
        def decide() -> Any:
            redirect_uri, state = request.args["redirect_uri"], request.args["state"]
            if request.args.get("approve") != "1":
                return redirect(
                    f"{redirect_uri}?{urlencode({'error': 'access_denied', 'state': state})}"
                )
            code = secrets.token_urlsafe(16)
            canvas._codes[code] = redirect_uri
            if "/errors" not in request.args.get("scope", ""):
                canvas._narrow.add(code)
            if "/restore_states" not in request.args.get("scope", ""):
                canvas._no_actions.add(code)
            return redirect(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}")

        @bp.post("/login/oauth2/token")
        def token() -> Any:
            form = request.form
            if (form.get("client_id"), form.get("client_secret")) != (
                canvas.client_id,
                canvas.client_secret,
            ):
                return jsonify(error="invalid_client", error_description="unknown client"), 401
            answer: dict[str, Any] = {
                "token_type": "Bearer",
                "user": {"id": 7, "name": canvas.user_name},
                "expires_in": canvas.access_token_ttl,
            }
            if form.get("grant_type") == "authorization_code":
                code = form.get("code", "")
                if canvas._codes.pop(code, None) != form.get("redirect_uri"):
                    return jsonify(error="invalid_grant"), 400
                refresh_token = secrets.token_urlsafe(24)
                canvas.refresh_tokens.add(refresh_token)
                if code in canvas._narrow:
                    canvas._narrow.add(refresh_token)
                if code in canvas._no_actions:
                    canvas._no_actions.add(refresh_token)
                answer["refresh_token"] = refresh_token
                grant = code
            elif form.get("grant_type") != "refresh_token" or (
                form.get("refresh_token") not in canvas.refresh_tokens
            ):
                return jsonify(error="invalid_grant"), 400
            else:
                grant = form["refresh_token"]
            answer["access_token"] = canvas.issue_token(
                errors_scope=grant not in canvas._narrow,
                action_scopes=grant not in canvas._no_actions,
            )
            return jsonify(answer)

        def authorised(account: str) -> Response | None:
            header = request.headers.get("Authorization", "")
            if header.removeprefix("Bearer ") not in canvas.tokens:
                return Response(
                    '{"errors":[{"message":"Invalid access token."}]}',
                    401,
                    {"WWW-Authenticate": 'Bearer realm="canvas-lms"'},
                    mimetype="application/json",
                )
            if account in canvas.refuse_accounts:
                status, message = canvas.refuse_accounts[account]
                return Response(
                    json.dumps({"errors": [{"message": message}]}),
                    status,
                    mimetype="application/json",
                )
            return None

        @bp.get("/api/v1/accounts/<account>/sis_imports")
        def list_imports(account: str) -> Any:
            refused = authorised(account)
            if refused is not None:
                return refused
            since, before = request.args.get("created_since"), request.args.get("created_before")
            with canvas._lock:
                rows = sorted(
                    canvas.imports.get(account, []),
                    key=lambda d: (d["created_at"], d["id"]),
                    reverse=True,
                )
            if since:
                rows = [d for d in rows if _at(d["created_at"]) > _at(since)]
            if before:
                rows = [d for d in rows if _at(d["created_at"]) < _at(before)]
            return paged(rows, "sis_imports")

        def paged(rows: list[dict[str, Any]], root: str) -> Response:
            """A page of ``rows`` under ``root``, with Canvas's absolute ``Link`` header."""
            per_page = min(max(request.args.get("per_page", 10, type=int), 1), 100)
            page = max(request.args.get("page", 1, type=int), 1)
            chunk = rows[(page - 1) * per_page : page * per_page]
            response = jsonify({root: chunk})
            links = []
            query = request.args.to_dict()
            last = max(1, -(-len(rows) // per_page))
            for rel, number in (
                ("current", page),
                ("next", page + 1),
                ("first", 1),
                ("last", last),
            ):
                if rel == "next" and page >= last:
                    continue
                url = (
                    request.base_url
                    + "?"
                    + urlencode({**query, "page": number, "per_page": per_page})
                )
                links.append(f'<{url}>; rel="{rel}"')
            response.headers["Link"] = ",".join(links)
            return response

        @bp.get("/api/v1/accounts/<account>/sis_imports/<int:import_id>/errors")
        def list_errors(account: str, import_id: int) -> Any:
            refused = authorised(account)
            if refused is not None:
                return refused
            if request.headers.get("Authorization", "").removeprefix("Bearer ") in (
                canvas.scopeless
            ):
                # Canvas's answer to a token without the scope: 401, no WWW-Authenticate.
                return Response(
                    '{"errors":[{"message":"Insufficient scopes on access token."}]}',
                    401,
                    mimetype="application/json",
                )
            with canvas._lock:
                found = next(
                    (d for d in canvas.imports.get(account, []) if d["id"] == import_id), None
                )
                rows = list(canvas.errors.get(import_id, []))
            if found is None:
                return jsonify(errors=[{"message": "The specified resource does not exist."}]), 404
            ended = _at(found["ended_at"] or found["created_at"])
            if datetime.now(UTC) - ended > timedelta(days=30):
                rows = []  # "Import errors are only stored for 30 days"
            if request.args.get("failure") in ("true", "1"):
                rows = [row for row in rows if row["failure"]]
            shown = [{k: v for k, v in row.items() if k != "failure"} for row in rows]
            return paged(shown, "sis_import_errors")

        def acting(account: str, *allowed: str) -> Response | None:
            """Canvas's refusals of an action: the token, the scope, the user's permission."""
            refused = authorised(account)
            if refused is not None:
                return refused
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if token in canvas.scopeless or token in canvas.actionless:
                return Response(
                    '{"errors":[{"message":"Insufficient scopes on access token."}]}',
                    401,
                    mimetype="application/json",
                )
            held = canvas.permissions.get(token, {"import_sis", "manage_sis"})
            if not held & set(allowed):
                return Response(
                    json.dumps(
                        {
                            "status": "unauthorized",
                            "errors": [{"message": "user not authorized to perform that action"}],
                        }
                    ),
                    403 if canvas.newer_auth_errors else 401,
                    mimetype="application/json",
                )
            return None

        def not_found() -> Any:
            return jsonify(errors=[{"message": "The specified resource does not exist."}]), 404

        @bp.post("/api/v1/accounts/<account>/sis_imports")
        def create_import(account: str) -> Any:
            """An SIS agent's import: the file in the body (``extension``) or as an
            ``attachment``; Canvas's flags as parameters (``skip_deletes``, ``batch_mode``…)."""
            refused = authorised(account)
            if refused is not None:
                return refused
            params = {**request.args.to_dict(), **request.form.to_dict()}
            if not (request.get_data() or request.files):
                return jsonify(errors=[{"message": "No attachment given"}]), 400
            with canvas._lock:
                canvas._next_import += 1
                number = canvas._next_import
            canvas.created.append(params)
            flag = params.get("skip_deletes", "").lower() in ("true", "1")
            now = datetime.now(UTC).replace(microsecond=0)
            kind = params.get("import_type", "instructure_csv")
            document = sis_import(number, now, state="created", progress=0, import_type=kind)
            done = sis_import(number, now, import_type=kind)
            document["skip_deletes"] = done["skip_deletes"] = flag
            canvas.put(account, document)
            canvas.scripted.append((time.monotonic() + canvas.import_seconds, account, done))
            return jsonify(document)

        @bp.put("/api/v1/accounts/<account>/sis_imports/<int:import_id>/restore_states")
        def restore_states(account: str, import_id: int) -> Any:
            refused = acting(account, "manage_sis")
            if refused is not None:
                return refused
            flags = {
                name: request.form.get(name, "").lower() in ("true", "1", "yes", "on")
                for name in ("batch_mode", "undelete_only", "unconclude_only")
            }
            if flags["undelete_only"] and flags["unconclude_only"]:
                return Response(
                    "cannot set both undelete_only and unconclude_only", 400, mimetype="text/plain"
                )
            with canvas._lock:
                if canvas.find(account, import_id) is None:
                    return not_found()
                canvas._next_progress += 1
                number = canvas._next_progress
                now = iso(datetime.now(UTC))
                progress = {
                    "id": number,
                    "context_id": import_id,
                    "context_type": "SisBatch",
                    "user_id": None,
                    "tag": "sis_batch_state_restore",
                    "completion": 0.0,
                    "workflow_state": "queued",
                    "created_at": now,
                    "updated_at": now,
                    "message": None,
                    "url": f"{request.host_url}api/v1/progress/{number}",
                    "_account": account,
                    "_flags": flags,
                    "_started": self.clock(),
                }
                canvas.progresses[number] = progress
            return jsonify(_public(progress))

        @bp.put("/api/v1/accounts/<account>/sis_imports/<int:import_id>/abort")
        def abort_import(account: str, import_id: int) -> Any:
            refused = acting(account, "import_sis", "manage_sis")
            if refused is not None:
                return refused
            with canvas._lock:
                document = canvas.find(account, import_id)
                if document is None or document["workflow_state"] not in STOPPABLE:
                    return not_found()
                document["workflow_state"] = "aborted"
                document["ended_at"] = document["updated_at"] = iso(datetime.now(UTC))
                return jsonify(document)

        @bp.put("/api/v1/accounts/<account>/sis_imports/abort_all_pending")
        def abort_all_pending(account: str) -> Any:
            refused = acting(account, "import_sis", "manage_sis")
            if refused is not None:
                return refused
            with canvas._lock:
                for document in canvas.imports.get(account, []):
                    if document["workflow_state"] in QUEUED:
                        document["workflow_state"], document["progress"] = "aborted", 100
                        document["ended_at"] = iso(datetime.now(UTC))
            return jsonify(aborted=True)

        @bp.get("/api/v1/progress/<int:progress_id>")
        def show_progress(progress_id: int) -> Any:
            refused = acting("", "import_sis", "manage_sis")
            if refused is not None:
                return refused
            progress = canvas.progresses.get(progress_id)
            if progress is None:
                return not_found()
            return jsonify(_public(progress))

        @bp.get("/api/v1/accounts/<account>/sis_imports/<int:import_id>")
        def show_import(account: str, import_id: int) -> Any:
            refused = authorised(account)
            if refused is not None:
                return refused
            with canvas._lock:
                found = next(
                    (d for d in canvas.imports.get(account, []) if d["id"] == import_id), None
                )
            if found is None:
                return jsonify(errors=[{"message": "The specified resource does not exist."}]), 404
            return jsonify(found)

        return bp

    def wsgi(self) -> Flask:
        """The stand-in on its own, at the root of a host, as the tests serve it."""
        app = Flask("standin_canvas")
        app.register_blueprint(self.blueprint())
        return app


STOPPABLE = ("initializing", "created", "importing", "cleanup_batch")  # abort's states
QUEUED = ("initializing", "created")  # abort_all_pending's


def _public(progress: dict[str, Any]) -> dict[str, Any]:
    """A Progress as Canvas sends it (the stand-in's own keys start with _)."""
    return {k: v for k, v in progress.items() if not k.startswith("_")}


def _count_restored(document: dict[str, Any], flags: dict[str, bool]) -> None:
    """Canvas recomputes ``data.statistics.<Model>.restored`` after an undo: what it brought
    back of the deleted and concluded (and, undoing everything, deactivated and created)."""
    statistics = document.get("data", {}).get("statistics") or {}
    for stats in statistics.values():
        if not isinstance(stats, dict):
            continue
        everything = not flags["undelete_only"] and not flags["unconclude_only"]
        restored = 0
        if everything or flags["undelete_only"]:
            restored += stats.get("deleted", 0)
        if everything or flags["unconclude_only"]:
            restored += stats.get("concluded", 0)
        if everything:
            restored += stats.get("deactivated", 0) + stats.get("created", 0)
        stats["restored"] = restored


def _at(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


DEMO_TOKEN = "dev-canvas-demo-token"  # noqa: S105 (the /dev stand-in's hand-made token)


def demo_canvas() -> StandInCanvas:
    """The ``/dev`` platform's Canvas: a year of nightly imports on root account 1, some with
    warnings or errors, yesterday's that deleted 3,960 enrollments (to undo), one import that
    runs for two minutes after the server starts and one that runs for an hour (to stop)."""
    rng = random.Random(2026)  # noqa: S311
    canvas = StandInCanvas(client_id="dev-canvas-client", client_secret="dev-canvas-secret")  # noqa: S106
    canvas.tokens.add(DEMO_TOKEN)
    today = datetime.now(UTC).replace(hour=7, minute=0, second=0, microsecond=0)
    for day in range(150, 0, -1):
        state = rng.choices(
            ["imported", "imported_with_messages", "failed_with_messages"], [85, 11, 4]
        )[0]
        warnings = [["users.csv", f"user U{rng.randint(1000, 9999)} has no email address"]]
        errors = [["enrollments.csv", f"Course BIO-{rng.randint(100, 499)} not found"]]
        canvas.put(
            "1",
            sis_import(
                40_000 + day,
                today - timedelta(days=day),
                state=state,
                user=None if rng.random() < 0.8 else "Jordan Rivera",
                warnings=warnings if state != "imported" else None,
                errors=errors if state == "failed_with_messages" else None,
                users_created=rng.randint(0, 30),
                enrollments_created=rng.randint(0, 200),
            ),
        )
    # Three days ago, an import Canvas refused 1,234 rows of: its JSON lists the first few,
    # the errors API every one (the worker reads them into the job's messages).
    canvas.put(
        "1",
        sis_import(
            40_003,
            today - timedelta(days=3),
            state="failed_with_messages",
            user=None,
            errors=[
                ["enrollments.csv", "Course BIO-100 not found for enrollment of U10000"],
                ["", "and 1199 more errors"],
            ],
            warnings=[
                ["enrollments.csv", "User U10001 has no email address"],
                ["", "and 33 more warnings"],
            ],
        ),
    )
    canvas.add_errors(40_003, failures=1_200, warnings=34)
    # Yesterday's import deleted 3,960 enrollments and concluded 12 courses: one to undo.
    canvas.put(
        "1",
        sis_import(
            40_001,
            today - timedelta(days=1),
            user=None,
            enrollments_deleted=3_960,
            courses_concluded=12,
            users_created=40,
            enrollments_created=0,
        ),
    )
    canvas.restore_seconds = 12.0  # long enough to watch "Restoring (45%)" in the row
    started = datetime.now(UTC).replace(microsecond=0)
    # One that stays importing for an hour after the server starts: one to stop.
    canvas.put(
        "1", sis_import(50_001, started - timedelta(minutes=20), state="importing", progress=12)
    )
    canvas.scripted.append(
        (time.monotonic() + 3600, "1", sis_import(50_001, started, state="imported", user=None))
    )
    canvas.put("1", sis_import(50_000, started, state="importing", progress=35, user=None))
    canvas.scripted.append(
        (time.monotonic() + 120, "1", sis_import(50_000, started, state="imported", user=None))
    )
    return canvas

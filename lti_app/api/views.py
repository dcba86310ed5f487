"""The SIS agent API. Every route is scoped to the tenant of the presented token."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from flask import current_app, g, jsonify, request
from pydantic import AwareDatetime, BaseModel, TypeAdapter, ValidationError
from werkzeug.wrappers import Response

from .. import activity
from ..errors import error_response, rollback_quietly
from ..extensions import reads_only
from ..rostering import blackouts, canvas_imports, messages, reading, sync, writing
from ..rostering.models import (
    SCHEDULED_POSTER,
    JobStatus,
    RosteringJob,
    SyncRequest,
    SyncRequestStatus,
    Trigger,
)
from ..rostering.schedule import describe_interval
from ..timeutil import utcnow
from . import bp, schemas
from .openapi import document, query_parameters
from .tokens import Unauthorized, require_token

M = TypeVar("M", bound=BaseModel)
MAX_LIMIT = 100
MAX_MESSAGES = 1000  # messages a page (a job's Canvas import may list 50,000)


class ApiError(Exception):
    """Bad input, answered with its status and each problem by field."""

    def __init__(
        self, status: int, title: str, message: str, problems: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.problems = status, title, message, problems


@bp.errorhandler(ApiError)
def api_error(exc: ApiError) -> Any:
    rollback_quietly()
    return error_response(exc.status, exc.title, exc.message, exc.problems)


@bp.errorhandler(Unauthorized)
def unauthorized(exc: Unauthorized) -> Any:
    body, status = error_response(
        401, "Unauthorized", "Send a valid API token: Authorization: Bearer <token>."
    )
    response = current_app.make_response((body, status))
    response.headers["WWW-Authenticate"] = 'Bearer realm="SIS Integration"'
    return response


@bp.errorhandler(writing.JobConflict)
def conflict(exc: writing.JobConflict) -> Any:
    rollback_quietly()
    return error_response(409, "Conflict", str(exc))


@bp.errorhandler(writing.JobRejected)
def rejected(exc: writing.JobRejected) -> Any:
    rollback_quietly()
    return error_response(422, "Unprocessable Entity", str(exc), exc.problems)


def _problems(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    return [
        {
            "field": ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
            or "body",
            "message": error["msg"].removeprefix("Value error, "),
        }
        for error in exc.errors()
    ]


def body_of(model: type[M]) -> tuple[M, Any]:
    """The request's JSON body, validated; also the raw data, for fingerprints."""
    if request.mimetype != "application/json":
        raise ApiError(415, "Unsupported Media Type", "Send the body as application/json.")
    try:
        data = json.loads(request.get_data())
    except RecursionError as exc:
        raise ApiError(400, "Bad Request", TOO_DEEP) from exc
    except ValueError as exc:
        raise ApiError(400, "Bad Request", f"The body is not valid JSON: {exc}") from exc
    problems = stored_text_problems(data)
    if problems:
        raise ApiError(
            422, "Unprocessable Entity", "The body has problems, listed by field.", problems
        )
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(
            422, "Unprocessable Entity", "The body has problems, listed by field.", _problems(exc)
        ) from exc
    limit = current_app.config["JOB_FILE_MAX_BYTES"]
    too_big = [
        {"field": f"{field}.content", "message": f"is larger than {limit} bytes"}
        for field, file in _files_of(parsed)
        if len(file.content.encode()) > limit
    ]
    if too_big:
        raise ApiError(413, "Payload Too Large", "A JSON file is over the size limit.", too_big)
    return parsed, data


MAX_DEPTH = 32
TOO_DEEP = f"The body is nested more than {MAX_DEPTH} levels deep."


def stored_text_problems(data: Any) -> list[dict[str, str]]:
    """What no database stores alike, found before validation: a NUL character in any string
    (PostgreSQL refuses it, SQLite keeps it), and nesting deeper than any body of this API."""
    problems: list[dict[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, field, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ApiError(400, "Bad Request", TOO_DEEP)
        if isinstance(value, str):
            if "\x00" in value:
                problems.append({"field": field or "body", "message": NUL_MESSAGE})
        elif isinstance(value, dict):
            for key, item in value.items():
                path = f"{field}.{key}" if field else str(key)
                if "\x00" in key:
                    problems.append({"field": path, "message": NUL_MESSAGE})
                stack.append((item, path, depth + 1))
        elif isinstance(value, list):
            stack.extend(
                (item, f"{field}.{i}" if field else str(i), depth + 1)
                for i, item in enumerate(value)
            )
    return sorted(problems, key=lambda p: p["field"])


NUL_MESSAGE = "contains a NUL character (\\u0000), which cannot be stored"


@bp.before_request
def refuse_unknown_query_parameters() -> None:
    """A query parameter the operation does not take (a typo, say ``staus``) is refused, as an
    unknown body field is, rather than silently ignored."""
    if request.url_rule is None or request.endpoint == "api.openapi":
        return
    known = query_parameters(request.url_rule.rule, request.method)
    unknown = sorted(set(request.args) - known)
    if unknown:
        raise _bad_query(
            [{"field": name, "message": "is not a parameter of this operation"} for name in unknown]
        )


@bp.before_request
def refuse_nul_in_url() -> None:
    """A NUL in the path or a query parameter is refused alike on every database."""
    if "\x00" in request.path:
        raise ApiError(
            422,
            "Unprocessable Entity",
            "A path has problems.",
            [{"field": "path", "message": NUL_MESSAGE}],
        )
    bad = [name for name, value in request.args.items(multi=True) if "\x00" in name + value]
    if bad:
        raise _bad_query([{"field": name, "message": NUL_MESSAGE} for name in bad])


def _files_of(body: BaseModel) -> Iterator[tuple[str, schemas.JobFileIn]]:
    """The JSON files in a body, by field: a job's, or each imported job's."""
    for i, file in enumerate(getattr(body, "files", None) or []):
        yield f"files.{i}", file
    for j, job in enumerate(getattr(body, "jobs", None) or []):
        for i, file in enumerate(job.files):
            yield f"jobs.{j}.files.{i}", file


# Built once (pydantic builds a validator per adapter, which costs more than the request's
# reading of its jobs): the query parameters' types.
_STATUS: TypeAdapter[Any] = TypeAdapter(schemas.Status)
_SINCE: TypeAdapter[Any] = TypeAdapter(AwareDatetime)
_LIMIT: TypeAdapter[Any] = TypeAdapter(int)
_REQUEST_STATUS: TypeAdapter[Any] = TypeAdapter(SyncRequestStatus)


def _query(name: str, adapter: TypeAdapter[Any]) -> Any:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return adapter.validate_python(raw)
    except ValidationError as exc:
        raise _bad_query(_problems(exc, name)) from exc


def _bad_query(problems: list[dict[str, str]]) -> ApiError:
    return ApiError(422, "Unprocessable Entity", "A query parameter has problems.", problems)


def find_job(job_ref: str, *, with_details: bool = True) -> RosteringJob:
    """The token's institution's job by id or ``ext:<external_id>``; 404 for any other."""
    tenant_id = g.api_token.tenant_id
    if job_ref.startswith("ext:"):
        job = reading.get_job_by_external_id(tenant_id, job_ref.removeprefix("ext:"))
    else:
        job = reading.get_job(tenant_id, job_ref, with_details=with_details)
    if job is None:
        raise ApiError(404, "Not Found", "No such rostering job.")
    return job


def _new_job(job: schemas.JobFields, **more: Any) -> writing.NewJob:
    """A reported job, as the job store takes it."""
    return writing.NewJob(
        external_id=job.external_id,
        type=job.type,
        posted_by=job.posted_by or SCHEDULED_POSTER,
        trigger=Trigger(job.trigger),
        sis_type=job.sis_type,
        stage=job.stage,
        status=JobStatus(job.status),
        change_counts={k: v.model_dump() for k, v in job.change_counts.items()},
        files=[(f.name, f.content) for f in job.files],
        messages=[m.model_dump() for m in job.messages],
        **more,
    )


@bp.post("/rostering_jobs")
@require_token
def create_job() -> Any:
    """Create a job; the same body again is a harmless retry."""
    body, raw = body_of(schemas.JobCreate)
    new = _new_job(body, sync_request_id=body.sync_request_id)
    job, created = writing.create_job_once(
        g.api_token.tenant_id, new, writing.fingerprint(raw), _linker(body.canvas_sis_import_id)
    )
    return jsonify(schemas.job_out(job, full=True)), 201 if created else 200


@bp.post("/rostering_jobs/import")
@require_token
def import_jobs() -> Any:
    """Store up to 1,000 past syncs at once, all or none (an institution's history)."""
    body, raw = body_of(schemas.JobImport)
    new_jobs = [
        _new_job(
            job,
            created_at=job.created_at,
            updated_at=job.updated_at or job.created_at,
            request_fingerprint=writing.fingerprint(job_raw),
        )
        for job, job_raw in zip(body.jobs, raw["jobs"], strict=True)
    ]
    outcome = writing.import_jobs(g.api_token.tenant_id, new_jobs)
    result = schemas.ImportResult(
        created=sum(created for _, created in outcome),
        existing=sum(not created for _, created in outcome),
        jobs=[
            schemas.ImportedJob(external_id=new.external_id, id=public_id, created=created)
            for new, (public_id, created) in zip(new_jobs, outcome, strict=True)
        ],
    )
    return jsonify(schemas.dump(result)), 201 if result.created else 200


@bp.get("/rostering_jobs")
@reads_only
@require_token
def list_jobs() -> Any:
    """The tenant's jobs, newest first, a page at a time."""
    status = _query("status", _STATUS)
    since = _query("updated_since", _SINCE)
    limit = _query("limit", _LIMIT)
    limit = 25 if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad_query([{"field": "limit", "message": f"must be between 1 and {MAX_LIMIT}"}])
    cursor = request.args.get("cursor")
    after = reading.decode_key(cursor)
    if cursor is not None and after is None:
        raise _bad_query([{"field": "cursor", "message": "is not a cursor this API gave"}])
    jobs = reading.list_jobs_after(
        g.api_token.tenant_id,
        limit=limit + 1,
        after=after,
        status=JobStatus(status) if status else None,
        updated_since=since,
    )
    page, more = jobs[:limit], len(jobs) > limit
    next_cursor = reading.encode_key(page[-1]) if more else None
    data = [schemas.job_out(j, full=False) for j in page]
    return jsonify({"data": data, "next_cursor": next_cursor})


@bp.get("/rostering_jobs/<path:job_ref>")
@reads_only
@require_token
def get_job(job_ref: str) -> Any:
    """One job, with its messages and files; ``ext:<external_id>`` finds it by the agent's id."""
    return jsonify(schemas.job_out(find_job(job_ref), full=True))


@bp.get("/rostering_jobs/<path:job_ref>/messages")
@reads_only
@require_token
def list_messages(job_ref: str) -> Any:
    """A job's messages after the cursor the job (or the previous page) gave, in order."""
    job = find_job(job_ref, with_details=False)
    limit = _query("limit", _LIMIT)
    limit = messages.PAGE if limit is None else limit
    if not 1 <= limit <= MAX_MESSAGES:
        raise _bad_query([{"field": "limit", "message": f"must be between 1 and {MAX_MESSAGES}"}])
    cursor = request.args.get("cursor")
    after = messages.read_cursor(cursor)
    if cursor is not None and after is None:
        raise _bad_query([{"field": "cursor", "message": "is not a cursor this API gave"}])
    shown = messages.page(job.id, after=after, size=limit)
    return jsonify(
        {
            "data": [schemas.dump(schemas.message_out(m)) for m in shown.rows],
            "next_cursor": messages.cursor_of(shown.rows[-1]) if shown.more_after else None,
        }
    )


@bp.patch("/rostering_jobs/<path:job_ref>")
@require_token
def update_job(job_ref: str) -> Any:
    """Change a job's stage, status, change details, messages or files."""
    job = find_job(job_ref)
    body, _ = body_of(schemas.JobUpdate)
    changes = writing.JobChanges(
        stage=body.stage,
        status=JobStatus(body.status) if body.status else None,
        change_counts=(
            {k: v.model_dump() for k, v in body.change_counts.items()}
            if body.change_counts is not None
            else None
        ),
        messages=[m.model_dump() for m in body.messages] if body.messages is not None else None,
        files=[(f.name, f.content) for f in body.files] if body.files is not None else None,
    )
    updated = writing.update_job(job, changes, _linker(body.canvas_sis_import_id))
    return jsonify(schemas.job_out(updated, full=True))


def _linker(import_id: int | None) -> Callable[[RosteringJob], None] | None:
    """Links a job to the Canvas import it names, absorbing the import's mirrored row."""
    if import_id is None:
        return None
    return lambda job: canvas_imports.link_import(job, import_id)


def _schedule_out() -> Any:
    schedule = sync.get_schedule(g.api_token.tenant_id)
    if schedule is None:
        raise ApiError(404, "Not Found", "No sync schedule is configured.")
    now = utcnow()
    ahead = blackouts.upcoming(schedule.tenant_id, now)
    on_now = blackouts.current_among(ahead, now)
    out = schemas.ScheduleOut(
        type=schedule.type,
        # Stored text into the schema's Literal: Pydantic checks the value itself.
        frequency=schedule.frequency,  # type: ignore[arg-type]
        every_hours=schedule.every_hours,
        time_of_day=schedule.time_of_day,
        weekdays=schedule.weekdays,
        first_run=schedule.first_run,
        timezone=schedule.timezone,
        enabled=schedule.enabled,
        posted_by=schedule.posted_by,
        interval=describe_interval(schedule),
        next_run=blackouts.next_run_among(schedule, ahead, now).at,
        paused_by=schedule.paused_by,
        paused_at=schedule.paused_at,
        updated_at=schedule.updated_at,
        blackouts=[schemas.Blackout(**blackouts.document(b)) for b in ahead],
        in_blackout=schemas.Blackout(**blackouts.document(on_now)) if on_now else None,
    )
    return jsonify(schemas.dump(out))


@bp.get("/schedule")
@reads_only
@require_token
def get_schedule() -> Any:
    """The tenant's sync automation schedule."""
    return _schedule_out()


@bp.put("/schedule")
@require_token
def put_schedule() -> Any:
    """Create or replace the tenant's sync automation schedule."""
    body, _ = body_of(schemas.ScheduleIn)
    fields = body.model_dump()
    old = sync.get_schedule(g.api_token.tenant_id)
    activity.record(
        g.api_token.tenant_id,
        "schedule.changed",
        before={k: _plain(getattr(old, k)) for k in fields} if old else None,
        after={k: _plain(v) for k, v in fields.items()},
    )
    sync.save_schedule(g.api_token.tenant_id, fields)
    return _schedule_out()


def _plain(value: Any) -> Any:
    """A schedule's field as the activity trail keeps it (JSON: times as ISO text)."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def _request_out(sync_request: SyncRequest) -> dict[str, Any]:
    return schemas.dump(schemas.SyncRequestOut.model_validate(sync_request, from_attributes=True))


@bp.get("/sync_requests")
@reads_only
@require_token
def list_sync_requests() -> Any:
    """Admins' "Sync now" requests; ``status=pending`` for those waiting for an agent."""
    status = _query("status", _REQUEST_STATUS)
    requests = sync.list_requests(g.api_token.tenant_id, status)
    return jsonify({"data": [_request_out(r) for r in requests]})


@bp.post("/sync_requests/<int(max=2147483647):request_id>/claim")
@require_token
def claim_sync_request(request_id: int) -> Any:
    """Claim a pending request; of two agents racing, exactly one gets it (the other: 409)."""
    agent = "SIS agent"
    if request.get_data():
        body, _ = body_of(schemas.ClaimIn)
        agent = body.agent
    claimed = sync.claim(
        g.api_token.tenant_id,
        request_id,
        agent,
        on_claimed=lambda: activity.record(
            g.api_token.tenant_id, "sync_request.claimed", subject=f"sync request {request_id}"
        ),
    )
    if claimed is None:
        raise ApiError(404, "Not Found", "No such sync request.")
    return jsonify(_request_out(claimed))


@bp.get("/openapi.json")
def openapi() -> Response:
    """This API, described as OpenAPI 3.1."""
    return jsonify(document())

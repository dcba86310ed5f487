"""The OpenAPI 3.1 description of the SIS agent API, built from the same Pydantic models that
check the requests; a test holds it to the routes the app really has."""

from __future__ import annotations

import functools
import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import schemas

REF = "#/components/schemas/{model}"
SUCCESS = {
    "200": "OK",
    "201": "Created",
    "202": "Held: the sync waits for an admin's approval.",
}
ERRORS = {
    "400": "The body is not JSON.",
    "401": "No token, or an unknown or revoked one.",
    "404": "Not found for this token's institution.",
    "409": "Conflicts with what is stored.",
    "413": "Too large (a JSON file over the limit, or the whole body).",
    "415": "The body is not application/json.",
    "422": "The body or a parameter has problems, listed by field.",
}

JOB_REF = {
    "name": "job_ref",
    "in": "path",
    "required": True,
    "description": "The job's id, or ext:<external_id>.",
    "schema": {"type": "string"},
}

# path, method, summary, request body, success status and body, error statuses, parameters
OPERATIONS: list[
    tuple[str, str, str, type[BaseModel] | None, str, type[BaseModel], str, list[Any]]
] = [
    (
        "/rostering_jobs",
        "post",
        "Create a rostering job (idempotent on external_id; 201, or 200 for a retry)",
        schemas.JobCreate,
        "201 200",
        schemas.JobOut,
        "400 401 409 413 415 422",
        [],
    ),
    (
        "/rostering_jobs/import",
        "post",
        "Import past syncs: up to 1,000 finished jobs with their own times, all or none "
        "(idempotent on external_id; 201, or 200 when every job was already stored)",
        schemas.JobImport,
        "201 200",
        schemas.ImportResult,
        "400 401 409 413 415 422",
        [],
    ),
    (
        "/rostering_jobs",
        "get",
        "List jobs, newest first, with a cursor",
        None,
        "200",
        schemas.JobList,
        "401 422",
        [
            {
                "name": "status",
                "in": "query",
                "schema": {"enum": ["completed", "warning", "failed", "in_progress"]},
            },
            {
                "name": "updated_since",
                "in": "query",
                "schema": {"type": "string", "format": "date-time"},
            },
            {
                "name": "cursor",
                "in": "query",
                "description": "The next_cursor of the previous page.",
                "schema": {"type": "string", "pattern": r"^[0-9]{1,19}\.[0-9]{1,19}$"},
            },
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25},
            },
        ],
    ),
    (
        "/rostering_jobs/{job_ref}",
        "get",
        "Get a job with its files and first 100 messages (messages_next: the rest)",
        None,
        "200",
        schemas.JobOut,
        "401 404",
        [JOB_REF],
    ),
    (
        "/rostering_jobs/{job_ref}/messages",
        "get",
        "List a job's messages after the first 100 (the job's messages_next is the first "
        "cursor), in order",
        None,
        "200",
        schemas.MessageList,
        "401 404 422",
        [
            JOB_REF,
            {
                "name": "cursor",
                "in": "query",
                "description": "The job's messages_next, or the next_cursor of the previous page.",
                "schema": {"type": "string", "pattern": r"^[0-9]{1,18}$"},
            },
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
            },
        ],
    ),
    (
        "/rostering_jobs/{job_ref}",
        "patch",
        "Update a job's stage, status, change details, "
        "messages or files (final statuses stay final)",
        schemas.JobUpdate,
        "200",
        schemas.JobOut,
        "400 401 404 409 413 415 422",
        [JOB_REF],
    ),
    (
        "/rostering_jobs/{job_ref}/change_check",
        "post",
        "Ask the change guard before applying a sync: proceed (200), or held for an admin's "
        "approval (202; the job's approval says what they decided); a final job: 409",
        schemas.ChangeCheck,
        "200 202",
        schemas.ChangeDecision,
        "400 401 404 409 413 415 422",
        [JOB_REF],
    ),
    (
        "/change_guard",
        "get",
        "Get the institution's change guard (read only: admins change it in Canvas)",
        None,
        "200",
        schemas.ChangeGuard,
        "401",
        [],
    ),
    (
        "/schedule",
        "get",
        "Get the sync automation schedule",
        None,
        "200",
        schemas.ScheduleOut,
        "401 404",
        [],
    ),
    (
        "/schedule",
        "put",
        "Create or replace the sync automation schedule",
        schemas.ScheduleIn,
        "200",
        schemas.ScheduleOut,
        "400 401 415 422",
        [],
    ),
    (
        "/sync_requests",
        "get",
        "List admins' Sync now requests",
        None,
        "200",
        schemas.SyncRequestList,
        "401 422",
        [
            {"name": "status", "in": "query", "schema": {"enum": ["pending", "claimed"]}},
        ],
    ),
    (
        "/sync_requests/{request_id}/claim",
        "post",
        "Claim a pending sync request (atomic: one agent wins, the others get 409)",
        schemas.ClaimIn,
        "200",
        schemas.SyncRequestOut,
        "400 401 404 409 415 422",
        [
            {
                "name": "request_id",
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
            },
        ],
    ),
]


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document for /api/v1."""
    models: set[type[BaseModel]] = {schemas.Error}
    for _, _, _, body, _, out, _, _ in OPERATIONS:
        models.add(out)
        if body is not None:
            models.add(body)
    _, definitions = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)],
        ref_template=REF,
    )

    def ref(model: type[BaseModel]) -> dict[str, Any]:
        return {
            "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}
        }

    paths: dict[str, dict[str, Any]] = {}
    for path, method, summary, body, status, out, errors, parameters in OPERATIONS:
        operation: dict[str, Any] = {
            "summary": summary,
            "operationId": method + "_" + re.sub(r"\W+", "_", path).strip("_"),
            "parameters": parameters,
            "responses": {
                code: {"description": SUCCESS[code], **ref(out)} for code in status.split()
            }
            | {
                code: {"description": ERRORS[code], **ref(schemas.Error)} for code in errors.split()
            },
        }
        if body is not None:
            operation["requestBody"] = {
                "required": method != "post" or body is not schemas.ClaimIn,
                **ref(body),
            }
        paths.setdefault("/api/v1" + path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "SIS Integration agent API",
            "version": "1.0.0",
            "description": "How an institution's SIS integration reports rostering jobs, keeps "
            "the sync schedule and picks up admins' Sync now requests. Each token belongs to "
            "one institution and sees only its data.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@functools.cache
def query_parameters(rule: str, method: str) -> frozenset[str]:
    """The query parameters the document gives an operation, by its Flask rule."""
    path = re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule).removeprefix("/api/v1")
    for op_path, op_method, *_, parameters in OPERATIONS:
        if op_path == path and op_method == method.lower():
            return frozenset(p["name"] for p in parameters if p["in"] == "query")
    return frozenset()

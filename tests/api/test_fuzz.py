"""The API fuzzed from its own OpenAPI document (Schemathesis) against the live server: every
operation, valid and invalid bodies, query strings and paths, with an authorised token. No
answer is a 5xx, every answer matches the document; then the fuzzed institution's pages, all in
three far-apart time zones, still render, and the other institution is untouched.

Every check runs but "schema-valid request accepted": the API has rules JSON Schema cannot say
(a file's content is a JSON document, a completed job has no stage, a sync request must exist),
and it answers their breach with a 422 naming the field, which tests/api cover rule by rule.

``FUZZ_EXAMPLES`` (per operation and mode) and ``FUZZ_SEED`` set the budget and the seed;
`make fuzz` runs a larger budget. The seed is printed in the report header.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import select

from lti_app.extensions import db
from lti_app.rostering.models import RosteringJob
from tests.support.fuzz import FUZZ_EXAMPLES, FUZZ_SEED, GENERATED

CUSTOM = "https://purl.imsglobal.org/spec/lti/claim/custom"
ZONES = ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago")


def _snapshot(tenant_id: int) -> list[tuple[Any, ...]]:
    rows = db.session.execute(
        select(RosteringJob.public_id, RosteringJob.status, RosteringJob.updated_at,
               RosteringJob.csv_line).where(RosteringJob.tenant_id == tenant_id)
        .order_by(RosteringJob.id)
    )  # fmt: skip
    return [tuple(row) for row in rows]


def _fuzz_operation(operation: Any, mode: GenerationMode, session: Any, token: str) -> None:
    label = f"{operation.method.upper()} {operation.path}"
    headers = {"Authorization": f"Bearer {token}"}

    @seed(FUZZ_SEED)
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        GENERATED[(label, mode.value)] += 1
        case.call_and_validate(
            session=session, headers=headers, excluded_checks=[positive_data_acceptance]
        )

    run()


def _fuzz(schema: Any, token: str) -> None:
    session = requests.Session()
    for result in schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(result.ok(), mode, session, token)


def test_the_api_fuzzed_from_its_openapi(tool_url, api_tokens, make_job, tenant_ids, client,
                                         launcher):  # fmt: skip
    for n in range(30):
        make_job("dep-b", external_id=f"beta-{n}", minutes_ago=n)
    beta_before = _snapshot(tenant_ids["dep-b"])
    schema = schemathesis.openapi.from_url(tool_url + "/api/v1/openapi.json")

    _fuzz(schema, api_tokens["dep-a"])

    assert sum(GENERATED.values()) > 0
    db.session.expire_all()
    assert _snapshot(tenant_ids["dep-b"]) == beta_before
    jobs = db.session.scalars(
        select(RosteringJob.public_id).where(RosteringJob.tenant_id == tenant_ids["dep-a"])
    ).all()
    for zone in ZONES:
        token = launcher.admin_token("dep-a", **{CUSTOM: {
            "canvas_membership_roles": "Account Admin", "user_timezone": zone}})  # fmt: skip

        def get(path: str, token: str = token, zone: str = zone, **query: Any) -> Any:
            response = client.get(path, query_string={"launch_token": token, **query})
            assert response.status_code == 200, (zone, path, query)
            return response

        pages = int(re.search(r"Page 1 of (\d+)", get("/rostering/").get_data(as_text=True))[1]
                    if jobs else 1)  # fmt: skip
        for page in range(1, pages + 1):
            get("/rostering/", page=page)
        for public_id in jobs:
            get(f"/rostering/jobs/{public_id}/details")
            get(f"/rostering/jobs/{public_id}/json")
        rows = list(csv.reader(io.StringIO(get("/rostering/jobs.csv").get_data(as_text=True))))
        assert len(rows) == len(jobs) + 1

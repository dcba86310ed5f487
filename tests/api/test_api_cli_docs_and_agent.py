"""Tokens from the command line, the OpenAPI document, and the reference agent."""

from __future__ import annotations

import re

import pytest

from examples.sis_agent import Api, import_history, run_sync

ISSUER_ARGS = ["--client-id", "10000000000001", "--deployment-id", "dep-a"]


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_token_lifecycle_from_the_command_line(app, registered, client):
    tenant = ["--issuer", registered.issuer, *ISSUER_ARGS]
    created = _cli(app, "api-token", "create", *tenant, "--name", "OneRoster agent")
    assert created.exit_code == 0, created.output
    plain = created.stdout.strip()
    assert plain.startswith("sisi_") and len(plain) > 40
    headers = {"Authorization": f"Bearer {plain}"}
    assert client.get("/api/v1/rostering_jobs", headers=headers).status_code == 200

    listed = _cli(app, "api-token", "list", *tenant).stdout
    assert "OneRoster agent" in listed and plain not in listed and "live" in listed
    token_id = listed.split()[0]
    assert _cli(app, "api-token", "revoke", *tenant, token_id).exit_code == 0
    assert client.get("/api/v1/rostering_jobs", headers=headers).status_code == 401
    assert "revoked" in _cli(app, "api-token", "list", *tenant).stdout


def test_token_for_an_unknown_deployment_is_refused(app, registered):
    result = _cli(
        app,
        "api-token",
        "create",
        "--issuer",
        registered.issuer,
        "--client-id",
        "1",
        "--deployment-id",
        "nope",
        "--name",
        "x",
    )
    assert result.exit_code != 0


def _route_operations(app) -> set[tuple[str, str]]:
    operations = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "api.openapi":
            continue
        path = re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operations.add((path, method.lower()))
    return operations


def test_openapi_document_matches_the_routes(app, client):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"] == "3.1.0"
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert documented == _route_operations(app)
    schemas = document["components"]["schemas"]
    for ops in document["paths"].values():
        for operation in ops.values():
            for response in operation["responses"].values():
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[1] in schemas
    assert "JobCreate" in schemas and "external_id" in schemas["JobCreate"]["required"]


@pytest.mark.parametrize("with_request", [True, False])
def test_reference_agent_runs_a_whole_sync(tool_url, launcher, client, api_tokens, with_request):
    admin = launcher.admin_token("dep-a", name="Jordan Rivera")
    if with_request:
        client.post("/rostering/sync_requests", data={"launch_token": admin})
    job = run_sync(Api(tool_url, api_tokens["dep-a"]), "OneRoster", seed=7)
    assert job["status"] in ("completed", "warning")
    assert [s["stage"] for s in job["stage_history"]] == [
        "Queued",
        "Roster Extract",
        "Data Conversion",
        "Canvas Import",
    ]
    assert job["files"][0]["name"] == "canvas_import.json"
    expected = (
        ("Jordan Rivera", "manual") if with_request else ("Canvas Integrations Admin", "scheduled")
    )
    assert (job["posted_by"], job["trigger"]) == expected
    html = client.get("/rostering/", query_string={"launch_token": admin}).get_data(as_text=True)
    assert job["id"] in html


def test_reference_agent_imports_history_once(tool_url, launcher, client, api_tokens):
    api = Api(tool_url, api_tokens["dep-a"])
    assert import_history(api, "OneRoster", 1500) == (1500, 0)
    assert import_history(api, "OneRoster", 1500) == (0, 1500)
    admin = launcher.admin_token("dep-a")
    html = client.get("/rostering/", query_string={"launch_token": admin}).get_data(as_text=True)
    assert "Page 1 of 60 (1,500 jobs)" in html  # grouped as the admin's language groups

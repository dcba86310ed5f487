#!/usr/bin/env python3
"""A reference SIS agent: one realistic rostering sync through the SIS Integration API.

It claims an admin's pending "Sync now" request if there is one (or else runs a scheduled
sync), walks the job through its stages, asks the change guard before its Canvas Import stage
(and waits for an admin's decision when the sync is held), and ends it with a status, change
details, messages and the Canvas import JSON file. With ``--history N`` it first imports N
past hourly syncs, as an agent does once when an institution starts using the tool. Read it
as the API's executable documentation.

    python examples/sis_agent.py --url http://127.0.0.1:5000 --token sisi_... [--history 2000]
    python examples/sis_agent.py ... --delete-share 0.33   # a sync the change guard holds
    python examples/sis_agent.py ... --canvas-url https://school.instructure.com \
        --canvas-token 7~... --canvas-account 1            # and send the import to Canvas

A scheduled sync is not started during a sync blackout (``GET /schedule``'s ``in_blackout``);
an admin's Sync now is. While the institution takes additions only, the change check answers
``skip_deletes`` and the import goes to Canvas with ``skip_deletes=true``: the deletions in the
files are ignored.

Only the standard library and ``requests`` are needed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

STAGES = ("Queued", "Roster Extract", "Data Conversion", "Canvas Import")


class Api:
    """A thin client: every call sends the bearer token and fails loudly on an error answer."""

    def __init__(self, url: str, token: str) -> None:
        self.base = url.rstrip("/") + "/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.session.request(method, self.base + path, json=body, timeout=30)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()


class NotApproved(Exception):
    """The change guard held the sync and no admin approved it."""


class Canvas:
    """Where the import goes: the institution's Canvas, with an admin's token (optional)."""

    def __init__(self, url: str, token: str, account: str) -> None:
        self.base = url.rstrip("/") + "/api/v1"
        self.account = account
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def send(self, csv_text: str, *, skip_deletes: bool) -> dict[str, Any]:
        """Create an SIS import of ``csv_text``: Canvas's own parameters, the file as the body."""
        params = {"import_type": "instructure_csv", "extension": "csv"}
        if skip_deletes:
            params["skip_deletes"] = "true"  # deletions in the file are ignored by Canvas
        response = self.session.post(
            f"{self.base}/accounts/{self.account}/sis_imports",
            params=params,
            data=csv_text.encode(),
            headers={"Content-Type": "text/csv"},
            timeout=60,
        )
        if response.status_code >= 400:
            raise RuntimeError(f"Canvas SIS import: {response.status_code} {response.text}")
        return dict(response.json())


def wait_for_approval(api: Api, job_id: str, timeout: float, every: float = 2.0) -> dict[str, Any]:
    """Ask the job until an admin decided (or the tool ended the hold); the job as it is then."""
    deadline = time.monotonic() + timeout
    while True:
        job = api.call("GET", f"/rostering_jobs/{job_id}")
        if job["approval"]["state"] != "pending" or time.monotonic() >= deadline:
            return job
        time.sleep(every)


def run_sync(
    api: Api,
    sis_type: str,
    pause: float = 0.0,
    seed: int | None = None,
    *,
    delete_share: float = 0.0,
    hold_timeout: float = 3600.0,
    canvas: Canvas | None = None,
) -> dict[str, Any] | None:
    """Run one sync end to end and return the finished job (None: a scheduled sync not
    started during a blackout). ``delete_share`` of the existing enrollments are deleted (the
    change guard holds a large share); a held sync waits up to ``hold_timeout`` seconds for an
    admin's decision; with ``canvas``, the import is sent to Canvas."""
    rng = random.Random(seed)

    # 1. An admin's Sync now comes first. Claiming is atomic: if another agent got it, move on.
    sync_request_id = None
    for pending in api.call("GET", "/sync_requests?status=pending")["data"]:
        claim = api.session.post(
            f"{api.base}/sync_requests/{pending['id']}/claim",
            json={"agent": "reference agent"},
            timeout=30,
        )
        if claim.status_code == 200:
            sync_request_id = pending["id"]
            print(f"Claimed the sync requested by {pending['requested_by']}")
            break
    if sync_request_id is None:
        blackout = _blackout(api)
        if blackout is not None:
            print(f"No scheduled sync during the blackout ({blackout['reason'] or 'no reason'}).")
            return None

    # 2. Report the job as it starts. Posting the same body again is a harmless retry.
    job = api.call(
        "POST",
        "/rostering_jobs",
        {
            "external_id": f"agent-{uuid.uuid4().hex[:12]}",
            "sis_type": sis_type,
            "trigger": "manual" if sync_request_id else "scheduled",
            "sync_request_id": sync_request_id,
            "status": "in_progress",
            "stage": STAGES[0],
        },
    )
    print(f"Job {job['id']} posted by {job['posted_by']}")

    # 3. Walk it through the stages; before changing Canvas, ask the change guard.
    counts = {
        name: {
            "created": rng.randint(0, 30),
            "updated": rng.randint(0, 200),
            "deleted": rng.randint(0, 3),
        }
        for name in ("users", "accounts", "terms", "courses", "sections", "enrollments")
    }
    existing = 12_000
    if delete_share:
        counts["enrollments"]["deleted"] = int(existing * delete_share)
    import_id = None
    for stage in STAGES[1:]:
        time.sleep(pause)
        if stage == "Canvas Import":
            job, skip_deletes = check_changes(api, job, counts, existing, hold_timeout)
            if skip_deletes:
                print("  additions only: deletions skipped")
                for changes in counts.values():
                    changes["deleted"] = 0
            if canvas is not None:
                import_id = canvas.send(_csv(counts), skip_deletes=skip_deletes)["id"]
        job = api.call("PATCH", f"/rostering_jobs/{job['id']}", {"stage": stage})
        print(f"  stage: {stage}")

    # 4. Finish: counts per object type, any messages, and the Canvas import JSON verbatim.
    messages = []
    if rng.random() < 0.3:
        messages.append(
            {
                "severity": "warning",
                "file": "users.csv",
                "row": rng.randint(2, 900),
                "message": "User has no email address; no notifications will be sent",
            }
        )
    import_json = json.dumps(
        {
            "workflow_state": "imported_with_messages" if messages else "imported",
            "data": {"counts": {k: sum(v.values()) for k, v in counts.items()}},
        },
        indent=2,
    )
    job = api.call(
        "PATCH",
        f"/rostering_jobs/{job['id']}",
        {
            "status": "warning" if messages else "completed",
            "stage": "",
            "change_counts": counts,
            "messages": messages,
            "files": [{"name": "canvas_import.json", "content": import_json}],
            **({"canvas_sis_import_id": import_id} if import_id is not None else {}),
        },
    )
    print(f"Finished: {job['status']}")
    return job


def _blackout(api: Api) -> dict[str, Any] | None:
    """The sync blackout in force now, if the institution has a schedule and is in one."""
    response = api.session.get(f"{api.base}/schedule", timeout=30)
    if response.status_code == 404:
        return None  # no schedule: nothing scheduled to skip
    if response.status_code >= 400:
        raise RuntimeError(f"GET /schedule: {response.status_code} {response.text}")
    return response.json().get("in_blackout")


def _csv(counts: dict[str, dict[str, int]]) -> str:
    """A users.csv standing in for what the SIS extracted (the counts' users)."""
    lines = ["user_id,login_id,full_name,status"]
    n = counts["users"]["created"] + counts["users"]["updated"]
    lines += [f"U{i},u{i},User {i},active" for i in range(n)]
    return "\n".join(lines) + "\n"


def check_changes(
    api: Api,
    job: dict[str, Any],
    counts: dict[str, dict[str, int]],
    existing: int,
    hold_timeout: float,
) -> tuple[dict[str, Any], bool]:
    """Ask the change guard about the planned changes; when it holds the sync, wait for an
    admin's decision and honour it (``NotApproved`` unless approved). The job, and whether to
    skip deletions (the institution takes additions only)."""
    # How many exist lets the guard weigh deletions as a share (the agent knows its SIS).
    planned = {name: dict(changes) for name, changes in counts.items()}
    planned["enrollments"]["existing"] = existing
    response = api.session.post(
        f"{api.base}/rostering_jobs/{job['id']}/change_check",
        json={"planned": planned},
        timeout=30,
    )
    if response.status_code == 200:
        return job, bool(response.json().get("skip_deletes"))
    if response.status_code != 202:
        raise RuntimeError(f"change_check: {response.status_code} {response.text}")
    print("  held for approval: " + "; ".join(response.json()["reasons"]))
    job = wait_for_approval(api, job["id"], hold_timeout)
    state = job["approval"]["state"]
    if state == "approved":
        print(f"  approved by {job['approval']['decided_by']}")
        return job, False
    if state == "pending":
        # Nobody decided in time: give up, changing nothing in Canvas.
        api.call(
            "PATCH",
            f"/rostering_jobs/{job['id']}",
            {
                "status": "failed",
                "messages": [
                    {
                        "severity": "error",
                        "message": f"No decision within {hold_timeout:.0f} s; nothing changed",
                    }
                ],
            },
        )
    raise NotApproved(f"the sync was {state} (nothing was changed in Canvas)")


def import_history(api: Api, sis_type: str, count: int, seed: int = 0) -> tuple[int, int]:
    """Report ``count`` past hourly syncs, the newest an hour ago, 1,000 a request.

    Each sync is derived from its start time alone (id, outcome, duration), so running this
    again, even an hour later, stores nothing twice. Returns how many were created and how
    many were already there.
    """
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    starts = [now - timedelta(hours=n) for n in range(count, 0, -1)]
    created = existing = 0
    for first in range(0, count, 1000):
        jobs = []
        for started in starts[first : first + 1000]:
            rng = random.Random(f"{seed}-{started:%Y%m%dT%H%M}")
            status = rng.choices(("completed", "warning", "failed"), (85, 12, 3))[0]
            jobs.append(
                {
                    "external_id": f"{sis_type.lower()}-{started:%Y%m%dT%H%M}",
                    "sis_type": sis_type,
                    "status": status,
                    "stage": "Data Conversion" if status == "failed" else "",
                    "created_at": started.isoformat(),
                    "updated_at": (started + timedelta(minutes=rng.randint(2, 20))).isoformat(),
                }
            )
        result = api.call("POST", "/rostering_jobs/import", {"jobs": jobs})
        created += result["created"]
        existing += result["existing"]
    print(f"History: {created} past syncs imported, {existing} already there")
    return created, existing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000", help="where the tool runs")
    parser.add_argument("--token", required=True, help="an API token (flask api-token create)")
    parser.add_argument("--sis-type", default="OneRoster")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between stages")
    parser.add_argument("--history", type=int, default=0, help="past hourly syncs to import first")
    parser.add_argument(
        "--delete-share", type=float, default=0.0, help="share of enrollments to delete (0-1)"
    )
    parser.add_argument(
        "--hold-timeout",
        type=float,
        default=3600.0,
        help="seconds to wait for an admin's decision when the change guard holds the sync",
    )
    parser.add_argument("--canvas-url", help="send the import to this Canvas too")
    parser.add_argument("--canvas-token", help="a Canvas admin's token, for --canvas-url")
    parser.add_argument("--canvas-account", default="self", help="the root account's id")
    args = parser.parse_args(argv)
    api = Api(args.url, args.token)
    canvas = (
        Canvas(args.canvas_url, args.canvas_token or "", args.canvas_account)
        if args.canvas_url
        else None
    )
    try:
        if args.history:
            import_history(api, args.sis_type, args.history)
        run_sync(
            api,
            args.sis_type,
            args.pause,
            delete_share=args.delete_share,
            hold_timeout=args.hold_timeout,
            canvas=canvas,
        )
    except NotApproved as exc:
        print(f"Stopped: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, requests.RequestException) as exc:
        print(f"The sync could not be reported: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

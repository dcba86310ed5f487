"""Download: the whole history as a CSV a spreadsheet can open safely."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from lti_app.rostering.models import JobStatus, Trigger

HEADER = [
    "Job ID",
    "External ID",
    "Type",
    "Posted By",
    "Trigger",
    "SIS Type",
    "Time Updated (UTC)",
    "Created (UTC)",
    "Stage",
    "Status",
]


def _rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))


def test_csv_has_every_job_newest_first_with_utc_timestamps(get, make_job):
    jobs = [make_job(minutes_ago=i) for i in range(60)]
    failed = make_job(
        status=JobStatus.FAILED,
        stage="Data Conversion",
        trigger=Trigger.MANUAL,
        posted_by="Sam O'Connell",
        external_id="sync-77",
        created_at=datetime(2026, 11, 20, 14, 0, tzinfo=UTC),
        updated_at=datetime(2026, 11, 20, 15, 4, 5, tzinfo=UTC),
    )
    response = get("/rostering/jobs.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.is_streamed
    rows = _rows(response)
    assert rows[0] == HEADER
    assert len(rows) == 62
    assert [r[0] for r in rows[1:61]] == [j.public_id for j in jobs]
    assert rows[61] == [
        failed.public_id,
        "sync-77",
        "Roster Import",
        "Sam O'Connell",
        "manual",
        "OneRoster",
        "2026-11-20T15:04:05Z",
        "2026-11-20T14:00:00Z",
        "Data Conversion",
        "Failed",
    ]


def test_csv_filename_names_the_account_and_the_day(get):
    disposition = get("/rostering/jobs.csv").headers["Content-Disposition"]
    today = datetime.now(UTC).date().isoformat()
    assert disposition == f'attachment; filename="rostering-jobs-alpha-college-{today}.csv"'


def test_csv_quoting_and_unicode(get, make_job):
    make_job(posted_by='Zoë "Z" Ångström, Registrar', sis_type="Line1\nLine2")
    response = get("/rostering/jobs.csv")
    raw = response.get_data()
    assert '"Zoë ""Z"" Ångström, Registrar"'.encode() in raw
    assert b"\r\n" in raw
    row = _rows(response)[1]
    assert row[3] == 'Zoë "Z" Ångström, Registrar'
    assert row[5] == "Line1\nLine2"


def test_csv_neutralises_formulas(get, make_job):
    for payload in ('=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        make_job(posted_by=payload, external_id=payload + "-id")
    for row in _rows(get("/rostering/jobs.csv"))[1:]:
        for cell in (row[1], row[3]):
            assert cell.startswith("'"), cell


def test_csv_of_an_empty_history_is_just_the_header(get):
    assert _rows(get("/rostering/jobs.csv")) == [HEADER]


TRICKY = [
    "a,b",
    'say "hi"',
    "line\nbreak",
    "cr\rreturn",
    "=1+2",
    '=",",',
    "-",
    "@x\n,y",
    "  padded  ",
    "",
    "'already",
    "tab\there",
    "\tlead",
    "ünï,cødé",
]


def test_csv_cells_round_trip_through_a_csv_reader(get, make_job):
    for n, value in enumerate(TRICKY):
        make_job(
            minutes_ago=n, external_id=f"e{n}", posted_by=value or "x", sis_type=value, stage=value
        )
    rows = _rows(get("/rostering/jobs.csv"))[1:]
    for n, value in enumerate(TRICKY):
        expected = "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
        row = rows[n]
        assert (row[3], row[5], row[8]) == (expected or "x", expected, expected), value


def _csv_time(api_time: str) -> str:
    return datetime.fromisoformat(api_time).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_csv_follows_every_update_of_a_job(get, api, time_machine):
    time_machine.move_to(datetime.now(UTC))
    created = api(
        "POST",
        "/rostering_jobs",
        {"external_id": "nightly", "sis_type": "OneRoster", "stage": "Queued"},
    ).json
    row = _rows(get("/rostering/jobs.csv"))[1]
    assert (row[6], row[8], row[9]) == (_csv_time(created["updated_at"]), "Queued", "In Progress")

    time_machine.shift(1.1)  # the CSV shows whole seconds: the update's time must read differently
    updated = api(
        "PATCH",
        f"/rostering_jobs/{created['id']}",
        {"status": "failed", "stage": "=Data Conversion"},
    ).json
    rows = _rows(get("/rostering/jobs.csv"))
    assert len(rows) == 2
    assert rows[1][0] == created["id"]
    assert rows[1][6] == _csv_time(updated["updated_at"]) != row[6]
    assert rows[1][8:] == ["'=Data Conversion", "Failed"]

"""Metrics for the operator: /metrics behind its token, counters kept where things happen,
figures read from the database at each scrape, and, under gunicorn, one answer adding up
every worker's counts."""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from scripts.serverctl import start_gunicorn, stop

TOKEN = "scrape-me"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _total(samples, name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and all((k, v) in sample_labels for k, v in labels.items())
    )


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"METRICS_TOKEN": TOKEN}


def test_metrics_need_the_token_and_vanish_without_one(client, app):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    app.config["METRICS_TOKEN"] = ""
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_requests_jobs_and_the_databases_figures_are_counted(client, api, launcher, make_job):
    def scrape():
        text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(True)
        return text, _samples(text)

    job = make_job(status="in_progress", stage="Queued")
    token = launcher.admin_token("dep-a")
    _, before = scrape()
    client.get(f"/rostering/jobs/{job.public_id}/details", query_string={"launch_token": token})
    api("PATCH", f"/rostering_jobs/{job.public_id}", {"status": "failed"})
    text, after = scrape()

    route = "/rostering/jobs/<public_id>/details"  # the route, never the raw path
    assert _total(after, "sis_http_requests_total", endpoint=route, status="200") - _total(
        before, "sis_http_requests_total", endpoint=route, status="200"
    ) == 1
    assert job.public_id not in text
    assert _total(after, "sis_http_request_duration_seconds_count", endpoint=route) >= 1
    finished = {"status": "failed", "trigger": "scheduled"}
    assert _total(after, "sis_jobs_finished_total", **finished) - _total(
        before, "sis_jobs_finished_total", **finished
    ) == 1
    for gauge in ("sis_jobs_in_progress", "sis_alert_outbox_backlog",
                  "sis_alert_outbox_oldest_age_seconds", "sis_canvas_poll_lag_seconds",
                  "sis_db_pool_connections_in_use"):  # fmt: skip
        assert any(name == gauge for name, _ in after), gauge
    # No series names an institution.
    assert "tenant" not in text and "Alpha College" not in text and "dep-a" not in text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_gunicorns_workers_are_added_up_in_one_answer(database_url, tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    server = start_gunicorn(env, port, workers=2, log_name="metrics-gunicorn.log")
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        def healthz_total() -> float:
            text = requests.get(f"{base}/metrics", headers=headers, timeout=10).text
            return _total(_samples(text), "sis_http_requests_total", endpoint="/healthz")

        before = healthz_total()
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(
                lambda _: requests.get(f"{base}/healthz", timeout=10).status_code, range(60)
            ))  # fmt: skip
        assert statuses == [200] * 60
        # Both workers answered some of them; the one that answers the scrape adds up all.
        pids = {p.name.split("_")[-1] for p in (tmp_path / "metrics").glob("counter_*.db")}
        assert len(pids) == 2
        assert healthz_total() - before == 60
    finally:
        stop(server)

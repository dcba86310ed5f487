"""The worker watched and stopped: a loop's thread that dies is started again and counted, too
many deaths end the process with status 1, a clean stop gives back every lease, and a
replacement worker delivers at once. On either database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from lti_app import worker as worker_module
from lti_app.alerts.models import AlertDelivery, WorkerLease
from lti_app.alerts.outbox import FAN_OUT
from lti_app.extensions import db
from lti_app.timeutil import as_utc, utcnow
from lti_app.worker import HOUSEKEEPING, Loop, Worker, run_worker

from .conftest import eventually

ROOT = Path(__file__).resolve().parents[2]


def _restarts(loop: str) -> float:
    return REGISTRY.get_sample_value("sis_worker_thread_restarts_total", {"loop": loop}) or 0.0


@pytest.fixture
def error_path_raises(monkeypatch) -> None:
    """A loop's error path that itself fails (as logging a value the database must give did):
    the exception escapes the round and ends the loop's thread."""

    def broken() -> None:
        raise RuntimeError("the error path failed too")

    monkeypatch.setattr(worker_module, "recover", broken)


def _failing_round(owner: str, doing) -> bool:
    doing("doing something that fails")
    raise ConnectionError("the database went away")


def test_a_thread_that_dies_is_logged_started_again_and_counted(app, error_path_raises, caplog):
    loop = Loop("flaky", _failing_round, 0.05)
    worker = Worker(app, [loop]).start()
    before = _restarts("flaky")
    try:
        assert eventually(lambda: not loop.thread.is_alive(), within=5)
        healthy, body = worker.health()
        assert not healthy and body["loops"]["flaky"]["running"] is False  # a thread lost: 503
        dead = loop.thread
        worker.supervise_once()
        assert loop.thread is not dead and len(loop.restarts) == 1
        assert _restarts("flaky") == before + 1
        assert body["loops"]["flaky"]["doing"] == "doing something that fails"
    finally:
        worker.shutdown()
    assert "worker loop flaky ended unexpectedly while doing something that fails" in caplog.text
    assert "worker loop flaky ended; starting it again (1 of 5" in caplog.text


def test_too_many_deaths_stop_the_worker_with_status_1(app, error_path_raises, caplog):
    app.config["WORKER_MAX_RESTARTS"] = 2
    loop = Loop("flaky", _failing_round, 0.05)
    steady = Loop("steady", lambda owner, doing: False, 0.05)
    # run_worker is what `flask worker` runs: it supervises, then exits with the status.
    with pytest.raises(SystemExit) as exited:
        run_worker(app, [loop, steady], "flaky, steady")
    assert exited.value.code == 1
    assert len(loop.restarts) == 2
    assert not steady.thread.is_alive()  # the others were stopped cleanly, not abandoned
    assert "worker loop flaky ended 3 times within the hour" in caplog.text


def test_a_failed_round_is_retried_with_backoff_and_the_thread_lives_on(app, caplog):
    attempts: list[float] = []

    def fails_twice(owner: str, doing) -> bool:
        attempts.append(time.monotonic())
        doing(f"attempt {len(attempts)}")
        if len(attempts) <= 2:
            raise ConnectionError("the database went away")
        return False

    loop = Loop("flaky", fails_twice, 60)
    worker = Worker(app, [loop]).start()
    try:
        assert eventually(lambda: loop.last_success is not None, within=5)
    finally:
        worker.shutdown()
    first_wait, second_wait = attempts[1] - attempts[0], attempts[2] - attempts[1]
    assert first_wait >= 0.35 and second_wait >= 0.75  # 0.5 s, then 1 s (with jitter)
    assert not loop.restarts and loop.failures == 0
    assert "worker loop flaky: round failed while attempt 1 (1 in a row)" in caplog.text


def _worker_env(database_url: str, smtp, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp.port),
        "PUBLIC_URL": "https://tool.example.edu",
        "ALERT_POLL_SECONDS": "0.1",
        **extra,
    }


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:  # a file, not a pipe: nobody need read while it runs
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _leases() -> dict[str, WorkerLease]:
    db.session.rollback()
    return {lease.name: lease for lease in db.session.scalars(select(WorkerLease))}


def test_sigterm_gives_back_every_lease_and_a_replacement_delivers_within_5_s(
    app, database_url, smtp, tenant_ids, subscribers, fail_a_sync, tmp_path
):
    subscribers(emails=1, hooks=0)
    env = _worker_env(database_url, smtp)
    first = _start_worker(env, tmp_path / "first.log")
    try:
        held = eventually(
            lambda: (lease := _leases().get(FAN_OUT)) is not None
            and f":{first.pid}:" in lease.owner
            and as_utc(lease.expires_at) > utcnow(),
            within=20,
        )
        assert held is not None, "the first worker never took the fan-out"
        owner = _leases()[FAN_OUT].owner
        asked = time.monotonic()
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
        assert time.monotonic() - asked < 30
    finally:
        if first.poll() is None:
            first.kill()
    output = (tmp_path / "first.log").read_text()
    assert "Worker stopped." in output and "lease(s) given back" in output

    leases = _leases()
    now = utcnow()
    # Every task it held is free; only the day's purge turn stays taken (the purge ended).
    assert as_utc(leases[FAN_OUT].expires_at) < now
    assert {n for n, lease in leases.items() if as_utc(lease.expires_at) > now} == {HOUSEKEEPING}
    assert leases[HOUSEKEEPING].owner == owner
    assert db.session.scalar(
        select(AlertDelivery.id).where(AlertDelivery.lease_owner == owner)
    ) is None  # fmt: skip

    fail_a_sync("after the deploy")
    second = _start_worker(env, tmp_path / "second.log")
    try:
        took = eventually(lambda: len(smtp.inbox.messages) == 1, within=10)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    assert took is not None and took <= 5.0, f"delivered {took} s after the replacement started"
    assert len(smtp.inbox.messages) == 1


def test_a_clean_stop_gives_back_the_purge_turn_it_cut_short(app, monkeypatch):
    purging = threading.Event()
    release = threading.Event()

    def slow_purge() -> dict[int, int]:
        purging.set()
        release.wait(30)
        return {}

    monkeypatch.setattr(worker_module.retention, "purge_all", slow_purge)
    monkeypatch.setattr(worker_module, "STOP_WITHIN", 0.5)
    loop = Loop("housekeeping", worker_module.housekeeping_tick, 60)
    worker = Worker(app, [loop]).start()
    try:
        assert purging.wait(10)
        worker.shutdown()  # the purge is still running: its turn goes back
        lease = _leases()[HOUSEKEEPING]
        assert as_utc(lease.expires_at) < utcnow()
    finally:
        release.set()
        # The cut-short round ends and checks its connection in before the app's teardown
        # disposes of the pool: one checked in afterwards would be dropped still open.
        loop.thread.join(10)
        assert not loop.thread.is_alive()

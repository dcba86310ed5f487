"""The /dev platform, served over real HTTP as `make run` serves it: its Dynamic Registration
button installs the tool, and its Canvas side feeds the mirror the demo shows."""

from __future__ import annotations

import html
import re
import socket
from collections.abc import Iterator

import pytest
import requests
from aiosmtpd.controller import Controller
from sqlalchemy import select

from lti_app.alerts import outbox, recipients
from lti_app.canvas import worker
from lti_app.dev import mail as devmail
from lti_app.dev.demo import connect_demo_canvas
from lti_app.extensions import db
from lti_app.lti import registry
from lti_app.lti.models import Platform, Tenant
from lti_app.rostering import reading
from lti_app.rostering.models import RosteringJob
from tests.support.servers import Served


@pytest.fixture
def dev_server(make_app) -> Iterator[tuple[object, int]]:
    app = make_app(
        DEV_PLATFORM=True,
        REGISTRATION_ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        CANVAS_BACKOFF_SECONDS=0.01,
    )
    with Served(app) as served:
        yield app, served.port
    with app.app_context():
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()


def test_install_with_a_registration_url_from_the_dev_platform(dev_server):
    app, port = dev_server
    page = requests.get(f"http://127.0.0.1:{port}/dev/?register=1", timeout=5).text
    src = html.unescape(re.search(r'title="Register SIS Integration" src="([^"]+)"', page)[1])
    assert src.startswith(f"http://localhost:{port}/lti/register?")

    review = requests.get(src, timeout=5)
    assert review.status_code == 200 and "Dynamic Demo College" in review.text
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', review.text))
    done = requests.post(
        f"http://localhost:{port}/lti/register",
        data={k: html.unescape(v) for k, v in fields.items()},
        timeout=5,
    )
    assert done.status_code == 200 and "SIS Integration is installed" in done.text

    with app.app_context():
        (platform,) = db.session.scalars(
            select(Platform).where(Platform.registered_via == "dynamic")
        ).all()
        assert platform.issuer == f"http://127.0.0.1:{port}/dev"
        assert len(platform.tenants) == 1
    listed = requests.get(f"http://127.0.0.1:{port}/dev/", timeout=5).text
    assert "<option" in listed and "Dynamic Demo College</option>" in listed


def test_the_demo_connects_lakeside_to_the_dev_canvas_and_a_poll_fills_its_history(dev_server):
    app, port = dev_server
    with app.app_context():
        spec = registry.PlatformSpec("https://dev.example", "dev", "/dev/auth", "/dev/auth", None)
        registry.register(spec, ["dev-lakeside"], "Lakeside School District")
        connect_demo_canvas(port)
        lakeside = db.session.scalars(
            select(Tenant).where(Tenant.deployment_id == "dev-lakeside")
        ).one()
        outcomes = worker.poll_all("test-worker")
        assert list(outcomes.values()) == ["ok: 152 job(s) changed"]
        assert reading.job_count(lakeside.id) == 152
        # One to undo (yesterday's, which deleted 3,960 enrollments) and one to stop.
        jobs = {
            job.canvas_sis_import_id: job
            for job in db.session.scalars(
                select(RosteringJob).where(RosteringJob.tenant_id == lakeside.id)
            )
        }
        assert jobs[40_001].change_counts["enrollments"]["deleted"] == 3_960
        assert jobs[50_001].status == "in_progress"



def test_the_development_mailbox_receives_alerts_and_shows_them(
    make_app, registered, tenant_ids, tmp_path, monkeypatch
):
    """`make run`'s mailbox: a real SMTP server that keeps each message; /dev/mail shows it."""
    monkeypatch.setattr(devmail, "MAILBOX", tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = Controller(devmail.SaveToFolder(tmp_path), hostname="127.0.0.1", port=port)
    mailbox.start()
    try:
        app = make_app(DEV_PLATFORM=True, MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
        with app.app_context():
            recipient = recipients.add_email(
                tenant_ids["dep-a"], "jordan@example.edu", events=None, locale="en",
                added_by="Jordan",
            )
            outbox.send([outbox.queue_test(recipient, owner="test")])
        client = app.test_client()
        inbox = client.get("/dev/mail/").get_data(as_text=True)
        assert "SIS Integration · Alpha College: Test alert" in inbox
        assert f"an SMTP server on 127.0.0.1:{port}" in inbox  # the port it was given
        (name,) = [path.stem for path in tmp_path.glob("*.eml")]
        letter = client.get(f"/dev/mail/{name}").get_data(as_text=True)
        assert "jordan@example.edu" in letter and "List-Unsubscribe-Post" in letter
        assert "This is a test alert from SIS Integration for Alpha College" in letter
    finally:
        mailbox.stop()

"""``make chaos``: the worker's promises under faults, for a few minutes.

SIS agents (threads calling the tool's API) fail and finish jobs for five institutions, each
with an email and a signed-webhook recipient. A real ``flask worker`` process reaches
PostgreSQL through a TCP proxy that is cut at random every 10–30 s for 2–6 s (the agents keep
writing: alerts pile up where the worker cannot see them), and the SMTP server (aiosmtpd) is
stopped now and then. At the end everything is restored and the worker given time to catch
up. Printed: the alerts owed (every acknowledged final status, told to two recipients),
delivered, late (arriving more than 5 s after the database, and for email the mail server,
were last back) and doubled (an id received more than once: at least once, same id). Exits 1
unless owed = delivered and every id received is an alert the tool recorded.

    make chaos                       # 180 s
    make chaos CHAOS_ARGS="--seconds 600 --seed 7"
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import flask_migrate  # noqa: E402
from sqlalchemy import create_engine, select, text  # noqa: E402

from lti_app import create_app  # noqa: E402
from lti_app.alerts import recipients  # noqa: E402
from lti_app.alerts.models import AlertDelivery, Channel  # noqa: E402
from lti_app.api import tokens  # noqa: E402
from lti_app.extensions import db  # noqa: E402
from lti_app.lti import registry  # noqa: E402
from tests.support.servers import SmtpServer, WebhookReceiver  # noqa: E402
from tests.support.tcp_proxy import PG_HOST, PG_PORT, TcpProxy, postgres_reachable  # noqa: E402

DATABASE = "sis_integration_chaos"
INSTITUTIONS = 5
LATE_AFTER = 5.0  # seconds after the database (or mail server) returned


class Timeline:
    """When each fault ended, to tell late from delayed-by-a-fault."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.database_back: list[float] = []
        self.mail_back: list[float] = []
        self.database_down = False
        self.mail_down = False

    @staticmethod
    def last_before(moments: list[float], moment: float) -> float:
        return max((m for m in moments if m <= moment), default=0.0)


class Arrivals:
    """When each alert id first arrived, and how often."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.first: dict[str, float] = {}
        self.count: Counter[str] = Counter()
        self.email: set[str] = set()

    def arrived(self, alert_id: str, *, email: bool) -> None:
        with self.lock:
            self.first.setdefault(alert_id, time.monotonic())
            self.count[alert_id] += 1
            if email:
                self.email.add(alert_id)


def _fresh_database() -> None:
    admin = create_engine(
        f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {DATABASE}"))
    admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if not postgres_reachable():
        print(f"make chaos needs PostgreSQL on {PG_HOST}:{PG_PORT}", file=sys.stderr)
        return 2
    _fresh_database()
    direct = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{DATABASE}"
    smtp = SmtpServer().start()
    arrivals = Arrivals()
    smtp.inbox.on_message = lambda m: arrivals.arrived(
        str(m["Message-ID"]).strip("<>").split("@")[0], email=True
    )
    receiver, hook_server = WebhookReceiver().serve()
    receiver.on_request = lambda r: arrivals.arrived(r.headers["Webhook-Id"], email=False)
    settings = {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp.port,
        "PUBLIC_URL": "https://tool.example.edu",
        "WEBHOOK_ALLOWED_HOSTS": ["127.0.0.1"],
    }
    app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": direct, **settings})
    agent_tokens: dict[str, str] = {}
    with app.app_context():
        flask_migrate.upgrade()
        spec = registry.PlatformSpec(
            issuer="https://chaos.example.edu", client_id="chaos",
            auth_login_url="https://chaos.example.edu/auth",
            auth_token_url="https://chaos.example.edu/token",  # noqa: S106 (a URL)
            key_set={"keys": []},
        )  # fmt: skip
        deployments = [f"dep-{n}" for n in range(INSTITUTIONS)]
        platform = registry.register(spec, deployments, "Chaos College")
        for tenant in platform.tenants:
            recipients.add_email(tenant.id, f"ops@{tenant.deployment_id}.example.edu",
                                 events=None, locale="en", added_by="chaos")  # fmt: skip
            recipients.add_webhook(tenant.id, f"{receiver.url}/{tenant.deployment_id}",
                                   Channel.JSON, events=None, locale="en",
                                   added_by="chaos")  # fmt: skip
            agent_tokens[tenant.deployment_id] = tokens.create(tenant, "chaos agent")[1]

    proxy = TcpProxy(PG_HOST, PG_PORT)
    timeline = Timeline()
    workdir = Path(tempfile.mkdtemp(prefix="sis-chaos-"))
    worker_env = {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{DATABASE}",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp.port),
        "PUBLIC_URL": "https://tool.example.edu",
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "ALERT_BACKOFF_SECONDS": "1",
        "ALERT_POLL_SECONDS": "0.5",
    }
    worker_log = workdir / "worker.log"
    starts = [0]

    def start_worker() -> subprocess.Popen[bytes]:
        starts[0] += 1
        with worker_log.open("ab") as output:
            return subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
                cwd=ROOT, env=worker_env, stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip

    worker = start_worker()
    acked: dict[str, float] = {}  # a job's external id -> when its final status was acknowledged
    stop = threading.Event()

    def agent(deployment: str) -> None:
        client = app.test_client()
        headers = {"Authorization": f"Bearer {agent_tokens[deployment]}"}
        n = 0
        while not stop.is_set():
            # Fail, then finish: every final status is news (a failure, then a recovery).
            status = "failed" if n % 2 == 0 else "completed"
            external_id = f"{deployment}-{n}"
            created = client.post("/api/v1/rostering_jobs", headers=headers,
                                  json={"external_id": external_id, "sis_type": "OneRoster"})
            if created.status_code not in (200, 201):
                time.sleep(0.5)
                continue
            final = {"status": status} if status == "completed" else {
                "status": status, "stage": "Canvas Import"}
            answer = client.patch(f"/api/v1/rostering_jobs/ext:{external_id}", headers=headers,
                                  json=final)
            if answer.status_code == 200:
                acked[external_id] = time.monotonic()
                n += 1
            stop.wait(rng.uniform(0.5, 3.0))

    agents = [threading.Thread(target=agent, args=(d,), daemon=True) for d in agent_tokens]
    for thread in agents:
        thread.start()

    print(f"chaos: {args.seconds:.0f} s, seed {args.seed}, worker log {worker_log}")
    ends = time.monotonic() + args.seconds
    next_cut = time.monotonic() + rng.uniform(10, 30)
    next_mail_stop = time.monotonic() + rng.uniform(20, 60)
    cuts = mail_stops = 0
    while time.monotonic() < ends:
        now = time.monotonic()
        if worker.poll() is not None:  # as systemd would: start it again
            print(f"  worker exited with {worker.returncode}; starting it again")
            worker = start_worker()
        if now >= next_cut:
            outage = rng.uniform(2, 6)
            proxy.cut()
            cuts += 1
            time.sleep(outage)
            proxy.restore()
            timeline.database_back.append(time.monotonic())
            print(f"  database cut for {outage:.1f} s")
            next_cut = time.monotonic() + rng.uniform(10, 30)
        elif now >= next_mail_stop:
            outage = rng.uniform(3, 8)
            smtp.stop()
            mail_stops += 1
            time.sleep(outage)
            smtp.start()
            timeline.mail_back.append(time.monotonic())
            print(f"  mail server stopped for {outage:.1f} s")
            next_mail_stop = time.monotonic() + rng.uniform(30, 60)
        else:
            time.sleep(0.2)
    stop.set()
    for thread in agents:
        thread.join(10)

    owed = 2 * len(acked)
    deadline = time.monotonic() + 120
    while len(arrivals.first) < owed and time.monotonic() < deadline:
        time.sleep(0.2)
    worker.send_signal(signal.SIGTERM)
    worker.wait(30)

    with app.app_context():
        recorded = {
            public_id: (payload.get("job") or {}).get("external_id")
            for public_id, payload in db.session.execute(
                select(AlertDelivery.public_id, AlertDelivery.payload)
            )
        }
        db.engine.dispose()
    late = []
    for alert_id, arrived in arrivals.first.items():
        job = recorded.get(alert_id)
        since = acked.get(job, 0.0) if job else 0.0
        since = max(since, Timeline.last_before(timeline.database_back, arrived))
        if alert_id in arrivals.email:
            since = max(since, Timeline.last_before(timeline.mail_back, arrived))
        if arrived - since > LATE_AFTER:
            late.append(arrived - since)
    doubled = sum(1 for count in arrivals.count.values() if count > 1)
    unknown = set(arrivals.first) - set(recorded)
    delivered = len(arrivals.first)
    print(
        f"\n{cuts} database cuts, {mail_stops} mail server stops, {starts[0]} worker start(s)\n"
        f"alerts owed:      {owed:6d}  ({len(acked)} final statuses × 2 recipients)\n"
        f"alerts recorded:  {len(recorded):6d}\n"
        f"delivered:        {delivered:6d}\n"
        f"late (> {LATE_AFTER:.0f} s):    {len(late):6d}"
        + (f"  (at most {max(late):.1f} s)" if late else "")
        + f"\ndoubled:          {doubled:6d}  (received more than once, with the same id)"
    )
    smtp.stop()
    hook_server.shutdown()
    proxy.close()
    if owed != delivered or len(recorded) != owed or unknown:
        print("FAILED: an alert owed was not delivered (or one arrived that was never owed)")
        return 1
    print("OK: every alert owed was delivered")
    return 0


if __name__ == "__main__":
    sys.exit(main())

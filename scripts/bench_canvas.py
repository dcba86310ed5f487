"""The Canvas mirror in `make bench` (``--canvas-only`` for just these): the first sync of a long
SIS import history from the stand-in Canvas over HTTP, an idle poll, and the Rostering page of
the institution it filled.
"""

from __future__ import annotations

import argparse
import threading
import time

from werkzeug.serving import make_server

from lti_app import create_app
from lti_app.canvas import connections, worker
from lti_app.dev.standin import StandInCanvas
from lti_app.extensions import db
from lti_app.lti import registry
from lti_app.rostering import reading
from scripts.benchkit import Row, ServerClock, median_ms, settle
from tests.support.launcher import Launcher, https_client, platform_spec
from tests.support.platform import TestPlatform


def bench_canvas(
    name: str, url: str, args: argparse.Namespace, platform: TestPlatform
) -> list[Row]:
    """The Canvas mirror: the first sync of a long SIS import history from the stand-in Canvas
    over HTTP, an idle poll, and the Rostering page of the institution it filled."""
    app = create_app(
        {"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, "CANVAS_BACKOFF_SECONDS": 0.01}
    )
    standin = StandInCanvas()
    standin.add_history("1", args.canvas_imports)
    server = make_server("127.0.0.1", 0, standin.wsgi(), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_port}"
    rows: list[Row] = []
    with app.app_context():
        import flask_migrate

        flask_migrate.upgrade()
        registry.register(platform_spec(platform), ["dep-canvas"], "Canvas-mirrored College")
        tenant = registry.find_tenant(platform.issuer, platform.client_id, "dep-canvas")
        connections.connect(
            tenant,
            base_url=base_url,
            account_id="1",
            method="token",
            access_token=standin.issue_token(),
            connected_by="bench",
        )
        owner = worker.worker_name()
        started = time.perf_counter()
        worker.poll_all(owner)
        first_sync = time.perf_counter() - started
        stored = reading.job_count(tenant.id)
        assert stored == args.canvas_imports, stored
        settle()
        rows.append(
            Row(
                name,
                f"Canvas first sync, {args.canvas_imports:,} imports",
                first_sync,
                "s",
                None,
                "",
                "report",
                None,
            )
        )
        rows.append(
            Row(
                name,
                "Canvas first sync rate",
                stored / first_sync,
                "rows/s",
                None,
                "",
                "report",
                None,
            )
        )
        before = len(standin.requests)
        idle = median_ms(lambda: worker.poll_all(owner), 5)
        rows.append(
            Row(
                name,
                f"Canvas idle poll ({(len(standin.requests) - before) / 5:.0f} request)",
                idle,
                "ms",
                None,
                "",
                "1 request",
                len(standin.requests) - before == 5,
            )
        )
    clock = ServerClock(app)
    client = https_client(app)
    token = Launcher(client, platform).admin_token("dep-canvas")
    page = clock.median_ms(
        lambda: client.get("/rostering/", query_string={"launch_token": token}), args.repeat
    )
    rows.append(
        Row(
            name,
            f"page 1 of {args.canvas_imports:,} mirrored imports",
            page,
            "ms",
            None,
            "",
            "≤ 10 ms",
            page <= 10,
        )
    )
    server.shutdown()
    with app.app_context():
        db.engine.dispose()
    return rows

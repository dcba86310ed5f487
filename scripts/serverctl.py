"""Start the production server (gunicorn, ``gunicorn.conf.py``) for the load test and the
benchmark, and wait until it answers /healthz."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def start_gunicorn(
    env: dict[str, str], port: int, workers: int, log_name: str
) -> subprocess.Popen[bytes]:
    """gunicorn on 127.0.0.1:<port>, logging to test-artifacts/<log_name>; ready when returned."""
    log_path = ROOT / "test-artifacts" / log_name
    log_path.parent.mkdir(exist_ok=True)
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
            env={**env, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)},
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.1)
    server.terminate()
    raise SystemExit(f"gunicorn did not start; see {log_path}")


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn and wait for it."""
    server.terminate()
    server.wait(timeout=30)

"""The development mailbox: a real SMTP server (aiosmtpd) that `make run` starts beside the
tool, keeping every message it receives as a ``.eml`` file under ``instance/dev-mail``;
``/dev/mail`` shows them. Alerts can be tried end to end with no mail server of one's own.
Development only: production code never imports this.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import click
from aiosmtpd.controller import Controller
from flask import Blueprint, abort, render_template
from flask.cli import AppGroup

from config.settings import INSTANCE_DIR

MAILBOX = INSTANCE_DIR / "dev-mail"
bp = Blueprint("devmail", __name__, url_prefix="/dev/mail")
mailbox_cli = AppGroup("dev-mailbox", help="The development mailbox (an SMTP server).")


class SaveToFolder:
    """An aiosmtpd handler that keeps each message whole in a folder, one file each."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.lock:
            name = f"{time.time_ns()}.eml"
            (self.folder / name).write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


@mailbox_cli.command("serve")
@click.option("--port", default=8025, show_default=True)
def serve_command(port: int) -> None:
    """Receive mail on 127.0.0.1:PORT until stopped; /dev/mail shows it."""
    controller = Controller(SaveToFolder(MAILBOX), hostname="127.0.0.1", port=port)
    controller.start()
    click.echo(f"Development mailbox on 127.0.0.1:{port}, shown at /dev/mail")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


@dataclass(frozen=True)
class Letter:
    name: str
    message: EmailMessage

    def part(self, kind: str) -> str:
        body = self.message.get_body(preferencelist=(kind,))
        return body.get_content() if body is not None else ""


def _letters() -> list[Letter]:
    if not MAILBOX.exists():
        return []
    files = sorted(MAILBOX.glob("*.eml"), reverse=True)[:100]
    return [
        Letter(
            path.stem,
            email.message_from_bytes(path.read_bytes(), policy=email.policy.default),
        )
        for path in files
    ]


@bp.route("/")
def inbox() -> str:
    """The newest hundred messages the development mailbox received."""
    return render_template("dev/mail.html", letters=_letters(), letter=None)


@bp.route("/<name>")
def letter(name: str) -> str:
    """One message: its headers, plain text and HTML."""
    found = next((item for item in _letters() if item.name == name), None)
    if found is None:
        abort(404)
    return render_template("dev/mail.html", letters=None, letter=found)

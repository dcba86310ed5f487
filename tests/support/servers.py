"""Real servers for the tests: ``Served`` puts any WSGI app on a real HTTP server in a thread
(the tool, the stand-in Canvas, the test platform); an SMTP server (aiosmtpd) keeps every message
it accepts, and an HTTP receiver for webhooks answers as each test scripts it."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


class Served:
    """A WSGI app on a real HTTP server on a free port, in a thread of its own, until ``stop``
    (or the end of a ``with`` block), which waits for the thread and closes the socket."""

    def __init__(self, wsgi_app: Any, host: str = "127.0.0.1") -> None:
        self._server = make_server(host, 0, wsgi_app, threaded=True)
        self.port: int = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Inbox:
    """An aiosmtpd handler: keeps each message; refuses recipients it is told to (550)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: dict[str, str] = {}  # address -> "550 mailbox unavailable"
        self.lock = threading.Lock()
        self.on_message: Callable[[EmailMessage], None] | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        if self.on_message is not None:
            self.on_message(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.messages]


class SmtpServer:
    """A real SMTP server on a port of its own, which a test can stop and start again."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.controller: Controller | None = None
        self.port = 0

    def start(self) -> SmtpServer:
        if not self.port:
            # aiosmtpd checks its server by connecting to the port it was given: it needs a
            # real one. (Started again after a stop, the server keeps its port.)
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Answers POSTs with the scripted (status, headers) in turn, then 200; records each."""

    requests: list[Received] = field(default_factory=list)
    script: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    url: str = ""
    on_request: Callable[[Received], None] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        received = Received(request.path, dict(request.headers), request.get_data())
        self.requests.append(received)
        if self.on_request is not None:
            self.on_request(received)
        status, headers = self.script.popleft() if self.script else (200, {})
        return Response("ignored by the tool", status=status, headers=headers)(
            environ, start_response
        )

    def serve(self) -> Served:
        served = Served(self)
        self.url = f"http://127.0.0.1:{served.port}"
        return served

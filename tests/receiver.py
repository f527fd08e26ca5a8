"""A real webhook receiver for tests: an HTTP server on a free loopback port.

It verifies every request's signature with the ``standardwebhooks`` package (what an
integrator would use) and records what arrived. ``answer`` decides each response: by
default 200; tests make it fail, hang or redirect.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    body: bytes
    verified: bool
    status: int
    at: float
    path: str = ""

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    url: str
    secret: str | None = None
    answer: Callable[[int], int] = lambda n: 200
    """Maps the request's number (from 1) to the status to answer."""
    hang: threading.Event | None = None
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _accepted_ids: set[str] = field(default_factory=set)
    arrivals: int = 0
    """Requests whose body was read (counted before any hang)."""

    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def accepted_ids(self) -> set[str]:
        with self.lock:
            return set(self._accepted_ids)

    def accepted_count(self) -> int:
        with self.lock:
            return len(self._accepted_ids)

    def wait_for(self, condition: Callable[[Receiver], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver at {self.url}: condition not met in {timeout} s")
            time.sleep(0.02)


@contextmanager
def receiver(path: str = "/hooks") -> Iterator[Receiver]:
    box: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # answer at once, as a real server does

        def do_POST(self) -> None:
            target = box["receiver"]
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with target.lock:
                target.arrivals += 1
            if target.hang is not None:
                target.hang.wait(10)
            verified = False
            if target.secret is not None:
                try:
                    Webhook(target.secret).verify(body, dict(self.headers.items()))
                    verified = True
                except WebhookVerificationError:
                    verified = False
            with target.lock:
                number = len(target.received) + 1
                status = target.answer(number) if verified or target.secret is None else 401
                webhook_id = self.headers.get("webhook-id", "")
                target.received.append(
                    Received(webhook_id, body, verified, status, time.perf_counter(), self.path)
                )
                if 200 <= status < 300:
                    target._accepted_ids.add(webhook_id)
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("location", target.url + "/elsewhere")
            reply = b"" if status in (204, 304) else b"ok" * 600  # longer than any kept excerpt
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    box["receiver"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}{path}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield box["receiver"]
    finally:
        if box["receiver"].hang is not None:
            box["receiver"].hang.set()
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/hooks"

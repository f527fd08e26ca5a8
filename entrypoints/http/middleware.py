"""ASGI middleware at the edge: the request body limit and the one-line-per-request access log.

The access log never records tokens, bodies or query strings.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.problems import PROBLEM_JSON

MAX_BODY_BYTES = 64 * 1024

access_log = logging.getLogger("booking.http.access")


class BodyLimit:
    """Refuses bodies over ``max_bytes`` with 413 before the application sees them.

    The whole (small) body is read first, whether or not a Content-Length was sent, and then
    handed to the application unchanged.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        payload = json.dumps(
            {
                "type": "about:blank",
                "title": "Body too large",
                "status": 413,
                "detail": f"request bodies are limited to {self.max_bytes} bytes",
                "code": "body_too_large",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class AccessLog:
    """One JSON line per request: method, path, status, duration_ms, actor, role."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            access_log.info("request", extra={"fields": _entry(scope, status, started)})


def _entry(scope: Scope, status: int, started: float) -> dict[str, Any]:
    actor = dict(scope["headers"]).get(b"x-actor", b"").decode("latin-1")[:210]
    return {
        "method": scope["method"],
        "path": scope["path"][:500],
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        "actor": actor if actor.isprintable() else repr(actor),
        "role": scope.get("state", {}).get("role"),
    }

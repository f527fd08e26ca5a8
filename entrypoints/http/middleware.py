"""ASGI middleware at the edge: the request body limit and the one-line-per-request access log.

The access log never records tokens, bodies or query strings.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.problems import PROBLEM_JSON

MAX_BODY_BYTES = 64 * 1024
BODY_TIMEOUT = 10.0
"""Seconds a client has to send a whole request body once its headers arrived."""

access_log = logging.getLogger("booking.http.access")


class BodyLimit:
    """The edge of every request with a body: authenticate, then read at most ``max_bytes``
    within ``timeout`` seconds, before the application sees anything.

    A request without a known bearer token is answered 401 without reading its body; a body
    over the limit is 413; a body still incomplete after ``timeout`` seconds is 408. Each of
    these closes the connection, so a slow or hostile client holds neither a worker nor a
    buffer. The body, once complete, is handed to the application unchanged.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, timeout: float = BODY_TIMEOUT) -> None:
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if not _authenticated(scope, headers):
            await _refuse(
                send,
                401,
                "unauthenticated",
                "send Authorization: Bearer <token> with a known token",
                [(b"www-authenticate", b"Bearer")],
            )
            return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                await _refuse(
                    send, 408, "request_timeout", f"the request body did not arrive within {self.timeout:g} s"
                )
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
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

    async def _too_large(self, send: Send) -> None:
        await _refuse(send, 413, "body_too_large", f"request bodies are limited to {self.max_bytes} bytes")


def _authenticated(scope: Scope, headers: dict[bytes, bytes]) -> bool:
    """Whether the request carries a known bearer token (the routes still check its role)."""
    app = scope.get("app")
    authority = getattr(getattr(app, "state", None), "tokens", None)
    if authority is None:
        return True  # not our application: let it decide
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip()) and authority.role_of(token.strip()) is not None


TITLES = {401: "Unauthenticated", 408: "Request timeout", 413: "Body too large"}


async def _refuse(
    send: Send, status: int, code: str, detail: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(
        {"type": "about:blank", "title": TITLES[status], "status": status, "detail": detail, "code": code}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
                *(extra or []),
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
            metrics = getattr(getattr(scope.get("app"), "state", None), "metrics", None)
            if metrics is not None:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                metrics.observe(scope["method"], route, status, time.perf_counter() - started)


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

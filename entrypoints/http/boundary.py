"""The last line of defence: an unexpected error is a problem+json 500, and the connection lives.

Starlette's own last handler (``ServerErrorMiddleware``) sends its 500 and then raises the
error again, so that the server sees it; uvicorn then closes the keep-alive connection, and a
client's next request on it is reset. Here the error stops instead: it is logged once, with
its traceback and a request id, and the answer is a complete ``500`` that names the same
request id (``X-Request-Id`` and ``request_id``), so an operator can find the traceback from
what a client reports. The connection stays open for the client's next request.
"""

from __future__ import annotations

import json
import logging
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.problems import PROBLEM_JSON

log = logging.getLogger("booking.http")

REQUEST_ID_HEADER = b"x-request-id"
_CLIENT_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
"""A request id a client (or a proxy in front) sent, kept if it is this plain; else one is made."""


def request_id(scope: Scope) -> str:
    """The request's id: the one sent in ``X-Request-Id`` when plain and short, else a new one."""
    sent = dict(scope.get("headers") or ()).get(REQUEST_ID_HEADER, b"")
    return sent.decode("ascii") if _CLIENT_ID.match(sent) else uuid.uuid4().hex


class ErrorBoundary:
    """Answer any exception the application lets out with a problem+json 500 (if nothing of
    the response was sent yet), logged once with its traceback and the request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            rid = request_id(scope)
            log.exception(
                "unexpected error on %s %s (request id %s)",
                scope.get("method"),
                scope.get("path", "")[:500],
                rid,
                extra={"fields": {"request_id": rid}},
            )
            if started:
                # Part of an answer is out (a stream): it cannot become a 500. Returning ends
                # the response unfinished, and the server closes that one connection.
                return
            await _internal_error(send, rid)


async def _internal_error(send: Send, rid: str) -> None:
    payload = json.dumps(
        {
            "type": "about:blank",
            "title": "Internal error",
            "status": 500,
            "detail": f"an unexpected error occurred; it has been logged with request id {rid}",
            "code": "internal_error",
            "request_id": rid,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
                (REQUEST_ID_HEADER, rid.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})

"""The uvicorn server of ``booking serve``, bounded against slow and numerous clients.

- A connection must deliver a request's headers within ``HEADER_TIMEOUT`` seconds of opening
  (or of its previous response): otherwise it is closed. uvicorn alone waits forever.
- A request's body must arrive within ``BODY_TIMEOUT`` seconds (``middleware.BodyLimit``).
- At most ``max_connections`` connections and requests at once: beyond that uvicorn answers
  503 at once instead of queueing.
None of these holds a worker thread: reading is asynchronous, only handlers run in threads.

The HTTP parser is httptools (C) and the event loop uvloop where they are installed (they are
dependencies; h11 and asyncio remain the fallback): per request they cost a fraction of the
pure-Python parser's and loop's CPU, and the API shares its cores with PostgreSQL.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0


class HeaderDeadline:
    """A deadline for each request's headers, for either of uvicorn's HTTP protocols (both
    start a request's ``cycle`` once its headers are complete)."""

    header_timeout = HEADER_TIMEOUT
    _header_timer: asyncio.TimerHandle | None = None
    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        super().data_received(data)  # type: ignore[misc]
        if self.cycle is not None and self.cycle is not cycle:
            self._cancel_header_timer()  # a request's headers are complete
        elif self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm_header_timer()  # bytes of a next request are trickling in

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being handled; its body has its own deadline
        if not self.transport.is_closing():
            self.transport.close()


class BoundedH11Protocol(HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's headers."""


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools not installed: h11 serves
    HTTP_PROTOCOL: type[asyncio.Protocol] = BoundedH11Protocol
else:

    class BoundedHttpToolsProtocol(HeaderDeadline, HttpToolsProtocol):
        """uvicorn's httptools protocol with a deadline for each request's headers."""

    HTTP_PROTOCOL = BoundedHttpToolsProtocol


def server(app: Any, host: str, port: int, max_connections: int) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            access_log=False,
            log_config=None,
            lifespan="off",
            http=HTTP_PROTOCOL,
            loop="auto",  # uvloop where installed
            limit_concurrency=max_connections,
            timeout_keep_alive=5,
        )
    )

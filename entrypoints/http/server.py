"""The uvicorn server of ``booking serve``, bounded against slow and numerous clients.

- A connection must deliver a request's headers within ``HEADER_TIMEOUT`` seconds of opening
  (or of its previous response): otherwise it is closed. uvicorn alone waits forever.
- A request's body must arrive within ``BODY_TIMEOUT`` seconds (``middleware.BodyLimit``).
- At most ``max_connections`` connections and requests at once: beyond that uvicorn answers
  503 at once instead of queueing.
None of these holds a worker thread: reading is asynchronous, only handlers run in threads.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's headers."""

    header_timeout = HEADER_TIMEOUT
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not None and self.cycle is not cycle:
            self._cancel_header_timer()  # a request's headers are complete
        elif self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm_header_timer()  # bytes of a next request are trickling in

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

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


def server(app: Any, host: str, port: int, max_connections: int) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            access_log=False,
            log_config=None,
            lifespan="off",
            http=BoundedH11Protocol,
            limit_concurrency=max_connections,
            timeout_keep_alive=5,
        )
    )

"""Wakeup: how the projections runner waits for new events when it has caught up.

On PostgreSQL it LISTENs, on one connection of its own, on the channel that the event
recorder NOTIFYs in every write (delivered at commit), so the runner wakes as soon as a
command commits. A notification is only a hint (the runner re-reads the log either way) and
every wait is bounded by the poll interval, so a lost LISTEN connection degrades to polling
and is re-established on a later wait. On SQLite (no notifications) it simply sleeps.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger("booking.projections")


class Wakeup:
    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.channel: str | None = getattr(recorder, "channel_name", None)
        self._connection: Any = None
        self._context: Any = None
        self._retry_at = 0.0
        self._last = -float("inf")  # when the last notification came (monotonic)
        self._gap = float("inf")  # seconds between the last two notifications

    def listen(self) -> None:
        """Start listening (before reading the log, so no commit after the read is missed)."""
        if self.channel is None or self._connection is not None or time.monotonic() < self._retry_at:
            return
        from psycopg import sql

        try:
            self._context = self.recorder.datastore.get_connection()
            self._connection = self._context.__enter__()
            self._connection.execute(sql.SQL("LISTEN {0}").format(sql.Identifier(self.channel)))
        except Exception as error:
            log.warning("cannot LISTEN for new events (%s); polling instead", type(error).__name__)
            self.close()
            self._retry_at = time.monotonic() + 5.0

    def wait(self, timeout: float, stop: threading.Event, gather: float = 0.0) -> None:
        """Until a commit is notified, ``timeout`` seconds pass, or ``stop`` is set.

        Commits arriving less than ``gather`` seconds apart (a steady stream) are taken two at a
        time: woken by one, it waits up to ``gather`` seconds for the next, so both are read and
        applied as one batch (a batch's cost is mostly fixed: a few round trips, whatever its
        size). A commit that follows a quiet spell is applied at once.
        """
        self.listen()
        if self._connection is None:
            stop.wait(timeout)
            return
        deadline = time.monotonic() + timeout
        try:
            while not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                # short slices so that ``stop`` is seen promptly
                if self._notified(min(left, 0.1)):
                    if gather > 0 and self._gap < gather and not stop.is_set():
                        self._notified(gather)
                    self.drain()
                    return
        except Exception as error:
            log.warning("LISTEN connection lost (%s); polling until it is back", type(error).__name__)
            self.close()

    def _notified(self, timeout: float) -> bool:
        """Whether a notification came within ``timeout`` seconds; keeps the gap since the last."""
        if not any(True for _ in self._connection.notifies(timeout=timeout, stop_after=1)):
            return False
        now = time.monotonic()
        self._gap, self._last = now - self._last, now
        return True

    def drain(self) -> None:
        """Forget the notifications received so far: a read that starts now sees their commits,
        so they would only wake the next wait for nothing."""
        if self._connection is not None and any(True for _ in self._connection.notifies(timeout=0)):
            self._last = time.monotonic()

    def close(self) -> None:
        context, self._connection, self._context = self._context, None, None
        if context is not None:
            try:
                context.__exit__(None, None, None)
            except Exception:  # a broken connection: the pool discards it
                log.debug("closing the LISTEN connection failed", exc_info=True)

"""CommitSignal: wakes long-polling readers when new events may have been committed.

On PostgreSQL it LISTENs on the channel the library's recorder NOTIFYs inside every insert
(delivered at commit), on one connection shared by all waiters of the process; elsewhere it
polls the head every ``poll_interval``. Either way its thread runs only while someone waits
and stops after ``idle_after`` seconds without waiters, so an idle API holds no connection.
A wake-up is only a hint: waiters re-read the log, and wait at most ``tick`` seconds at a
time, so a lost LISTEN connection degrades to polling instead of hanging anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any

log = logging.getLogger("booking.feed")


class CommitSignal:
    def __init__(self, recorder: Any, poll_interval: float = 0.05, idle_after: float = 10.0) -> None:
        self.recorder = recorder
        self.poll_interval = poll_interval
        self.idle_after = idle_after
        self.tick = 1.0
        self._channel: str | None = getattr(recorder, "channel_name", None)
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def waiter(self) -> Waiter:
        """Register before reading the log, then ``await waiter.wait(timeout)`` if nothing was new."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="commit-signal", daemon=True)
                self._thread.start()
        return Waiter(self, entry)

    def close(self) -> None:
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _discard(self, entry: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        with self._lock:
            self._waiters.discard(entry)

    def _wake_all(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the waiter's loop closed meanwhile
                self._discard((loop, event))

    def _idle_for(self, since: float) -> bool:
        with self._lock:
            if self._waiters:
                return False
        return time.monotonic() - since >= self.idle_after

    def _run(self) -> None:
        try:
            if self._channel is not None:
                self._listen()
            else:
                self._poll()
        finally:
            with self._lock:
                self._thread = None

    def _poll(self) -> None:
        head = self.recorder.max_notification_id() or 0
        last_waiter = time.monotonic()
        while not self._closed.is_set():
            if self._waiters:
                last_waiter = time.monotonic()
            elif self._idle_for(last_waiter):
                return
            self._closed.wait(self.poll_interval)
            try:
                now_head = self.recorder.max_notification_id() or 0
            except Exception as error:  # the database is away: wake waiters to find out themselves
                log.warning("commit signal cannot read the head: %s", type(error).__name__)
                now_head = -1
            if now_head != head:
                head = now_head
                self._wake_all()

    def _listen(self) -> None:
        from psycopg import sql

        last_waiter = time.monotonic()
        while not self._closed.is_set():
            try:
                with self.recorder.datastore.get_connection() as conn:
                    conn.execute(sql.SQL("LISTEN {0}").format(sql.Identifier(self._channel)))  # type: ignore[arg-type]
                    try:
                        self._wake_all()  # anything committed before LISTEN took effect
                        while not self._closed.is_set():
                            if self._waiters:
                                last_waiter = time.monotonic()
                            elif self._idle_for(last_waiter):
                                return
                            if any(True for _ in conn.notifies(timeout=0.25, stop_after=1)):
                                self._wake_all()
                    finally:
                        conn.execute("UNLISTEN *")
            except Exception as error:
                log.warning("LISTEN connection lost (%s); waiters fall back to polling", type(error).__name__)
                self._wake_all()
                self._closed.wait(1.0)


class Waiter:
    def __init__(self, signal: CommitSignal, entry: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        self._signal, self._entry = signal, entry

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._entry[1].wait(), min(timeout, self._signal.tick))
        self._entry[1].clear()

    def close(self) -> None:
        self._signal._discard(self._entry)

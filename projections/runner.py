"""ProjectionsRunner: applies the recorded events to the views, exactly once, and follows new ones.

It reads the notification log in batches from the lowest view position and gives each view
the events above its own position, in one transaction per view and batch (rows and
position together, see ``tracking.ViewRecorder``). A batch that lost the race to another
runner rolls back and is re-read, so running two runners is safe, merely wasteful. The
runner remembers the positions it wrote and re-reads a view's only after a lost race or an
error.

Following: on PostgreSQL the runner wakes on the recorder's NOTIFY (``wakeup.Wakeup``), with
``poll_interval`` as the longest wait (so a lost LISTEN connection degrades to polling); on
SQLite it polls every ``poll_interval``. A database error is retried with back-off; if the
database stays unreachable for ``give_up_after`` seconds the error is raised, so the
process exits non-zero for its supervisor instead of hanging.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from eventsourcing.application import Application
from eventsourcing.persistence import PersistenceError

from commands.service import BookingService
from projections.catalog import build_views
from projections.database import create_read_engine
from projections.source import EventLog
from projections.tracking import PositionMoved
from projections.wakeup import Wakeup

log = logging.getLogger("booking.projections")

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    PersistenceError,
)


class ProjectionsRunner:
    def __init__(
        self,
        database_url: str,
        poll_interval: float = 0.2,
        *,
        names: Sequence[str] | None = None,
        prefix: str = "",
        batch_size: int = 500,
        give_up_after: float = 60.0,
        lag_log_interval: float = 10.0,
        service: Application[Any] | None = None,
    ) -> None:
        """Reads the events through ``service`` (the process's booking service, which the caller
        keeps and closes); without one, opens its own on ``database_url`` and closes it."""
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.give_up_after = give_up_after
        self.lag_log_interval = lag_log_interval
        self.engine = create_read_engine(database_url)
        self._own_service = service is None
        self.log = EventLog(service if service is not None else BookingService.open(database_url))
        self.views = build_views(self.engine, prefix, names)
        self._topics = frozenset().union(*(view.handled_topics for view in self.views))
        self._known: dict[str, int] = {}  # view name -> position, as last written by this runner
        self.wakeup = Wakeup(self.log.app.recorder)

    def catch_up(
        self,
        stop_at: int | None = None,
        on_progress: Callable[[int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Apply everything recorded so far (up to ``stop_at``); return the events applied."""
        applied = 0
        while stop is None or not stop.is_set():
            known = [self._known.get(view.view.view_name) for view in self.views]
            positions = [
                p if p is not None else view.view.position()
                for view, p in zip(self.views, known, strict=True)
            ]
            start = min(positions)
            if stop_at is not None and start >= stop_at:
                break
            notifications = self.log.read(start, self.batch_size, stop=stop_at)
            if not notifications:
                break
            events = {n.id: self.log.decode(n) for n in notifications if n.topic in self._topics}
            last = notifications[-1].id
            advanced = 0
            for view, position in zip(self.views, positions, strict=True):
                if position >= last:
                    continue
                batch = [
                    events[n.id] for n in notifications if n.id > position and n.topic in view.handled_topics
                ]
                self._known.pop(view.view.view_name, None)  # until the batch is known to be written
                try:
                    view.apply_batch(position, last, batch)
                except PositionMoved:
                    log.debug("view %s moved under us; re-reading its position", view.view.view_name)
                    continue
                self._known[view.view.view_name] = last
                advanced = max(advanced, sum(1 for n in notifications if n.id > position))
            applied += advanced
            if on_progress is not None and advanced:
                on_progress(advanced)
        return applied

    def run_forever(self, stop: threading.Event) -> None:
        """Catch up, then follow new events until ``stop`` is set."""
        failing_since: float | None = None
        pause = self.poll_interval
        next_lag_log = 0.0
        while not stop.is_set():
            try:
                self.wakeup.listen()  # before reading, so no commit after the read goes unnoticed
                applied = self.catch_up(stop=stop)
                if time.monotonic() >= next_lag_log:
                    log.info("lag (events behind the head): %s", self.lag())
                    next_lag_log = time.monotonic() + self.lag_log_interval
            except TRANSIENT_ERRORS as error:
                self._known.clear()
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since >= self.give_up_after:
                    log.error("database unavailable for %.0f s; giving up: %s", now - failing_since, error)
                    raise
                log.warning("database error, retrying in %.1f s: %s", pause, error)
                stop.wait(pause)
                pause = min(pause * 2, 5.0)
                continue
            failing_since, pause = None, self.poll_interval
            if applied == 0:
                self.wakeup.wait(self.poll_interval, stop)

    def positions(self) -> dict[str, int]:
        return {view.name: view.view.position() for view in self.views}

    def lag(self) -> dict[str, int]:
        """Notification ids between each view's position and the head (ids skipped by
        rolled-back PostgreSQL transactions count too, so this is an upper bound)."""
        head = self.log.head()
        return {name: max(0, head - position) for name, position in self.positions().items()}

    def close(self) -> None:
        self.wakeup.close()
        if self._own_service:
            self.log.app.close()
        self.engine.dispose()

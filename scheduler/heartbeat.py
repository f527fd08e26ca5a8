"""The scheduler's heartbeat: a ``booking schedule`` process records, every few seconds, that it
runs, its counts and its last fire in a small table of the views' database, so the API's
``/health`` (another process) reports the scheduler's last fire. Rows of schedulers silent
for a day are removed when a new one starts.

The same rows tell the schedulers which of them are alive, so that they share the deadlines
(``scheduler.share``): ``live`` lists those that beat within a window of a few beat intervals.
``beat_at`` is written from the injected clock and compared with that clock's ``now``, so the
window is in the clock's time (``LIVE_BEATS`` intervals times its speed for a sped-up clock,
see ``live_window``). All schedulers of a deployment should beat at the same interval; one
that beats more rarely than the others' window is taken for dead between its beats, which
costs doubled fires, never a lost one. Clocks of different hosts must agree to well within
the window.

The table is created and changed by the migrations (``migrations.prepare``), never here."""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from domain.time import Clock
from projections.tables import scheduler_heartbeats_table

FORGET_AFTER = timedelta(days=1)
LIVE_BEATS = 3  # a scheduler silent for this many beat intervals is taken for dead


def live_window(beat_interval: float, clock_speed: float = 1.0) -> timedelta:
    """How long, in the clock's time, a scheduler beating every ``beat_interval`` real seconds
    stays live after a beat."""
    return timedelta(seconds=LIVE_BEATS * beat_interval * clock_speed)


class Heartbeat:
    def __init__(self, engine: sa.Engine, clock: Clock, scheduler_id: str | None = None) -> None:
        self.engine, self.clock = engine, clock
        self.scheduler_id = scheduler_id or f"{socket.gethostname()}:{os.getpid()}"
        self.table = scheduler_heartbeats_table(sa.MetaData())
        self.started_at = clock.now()
        with engine.begin() as conn:
            conn.execute(sa.delete(self.table).where(self.table.c.beat_at < self.started_at - FORGET_AFTER))

    def beat(self, health: dict[str, Any]) -> None:
        """Record ``health`` (``DeadlineScheduler.health()``) as this scheduler's latest state."""
        last_fire = health.get("last_fire")
        row = {
            "started_at": self.started_at,
            "beat_at": self.clock.now(),
            "pending": int(health.get("pending", 0)),
            "fired": int(health.get("fired", 0)),
            "failed": int(health.get("failed", 0)),
            "last_fire_at": datetime.fromisoformat(last_fire["at"]) if last_fire else None,
            "last_fire": json.dumps(last_fire) if last_fire else None,
        }
        with self.engine.begin() as conn:
            updated = conn.execute(
                sa.update(self.table).where(self.table.c.scheduler_id == self.scheduler_id).values(**row)
            ).rowcount
            if not updated:
                conn.execute(sa.insert(self.table).values(scheduler_id=self.scheduler_id, **row))

    def live(self, within: timedelta) -> set[str]:
        """The ids of the schedulers that beat within ``within`` of now (this one included)."""
        since = self.clock.now() - within
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(self.table.c.scheduler_id).where(self.table.c.beat_at >= since))
            return {str(row.scheduler_id) for row in rows} | {self.scheduler_id}

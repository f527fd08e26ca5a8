"""The scheduler's heartbeat: a ``booking schedule`` process records, every few seconds, that it
runs, its counts and its last fire in a small table of the views' database, so the API's
``/health`` (another process) reports the scheduler's last fire. Rows of schedulers silent
for a day are removed when a new one starts."""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from domain.time import Clock
from projections.tables import create_tables, scheduler_heartbeats_table

FORGET_AFTER = timedelta(days=1)


class Heartbeat:
    def __init__(self, engine: sa.Engine, clock: Clock, scheduler_id: str | None = None) -> None:
        self.engine, self.clock = engine, clock
        self.scheduler_id = scheduler_id or f"{socket.gethostname()}:{os.getpid()}"
        self.table = scheduler_heartbeats_table(sa.MetaData())
        create_tables(engine, self.table.metadata)
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

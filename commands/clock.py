"""Clocks to inject: the system's, and a manual one for tests, the demo and simulations."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ScaledClock:
    """The system clock run ``speed`` times faster from ``origin``: at real instant ``t`` it reads
    ``origin + (t - origin) * speed``.

    For test and rehearsal deployments only: processes given the same origin and speed agree
    on the time, so a policy of minutes plays out in seconds of real time.
    """

    def __init__(self, origin: datetime, speed: float) -> None:
        if origin.tzinfo is None:
            raise ValueError("ScaledClock needs a timezone-aware origin")
        if not speed > 0:
            raise ValueError(f"speed must be positive; got {speed!r}")
        self.origin = origin.astimezone(UTC)
        self.speed = speed

    def now(self) -> datetime:
        return self.origin + (datetime.now(UTC) - self.origin) * self.speed

    def real_seconds(self, delta: timedelta) -> float:
        """How many real seconds pass while this clock moves by ``delta``."""
        return delta.total_seconds() / self.speed


class ManualClock:
    """A clock that only moves when told to; safe to share between threads."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = instant.astimezone(UTC)

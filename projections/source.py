"""EventLog: reads the booking application's notification log and decodes its events.

Reads through the application's own recorder (``select_notifications``) and mapper, so the
events are decoded exactly as the command side wrote them. It never writes. Reading by
``notification id > position`` never waits for a gap: on PostgreSQL a rolled-back insert
leaves an id unused forever, and the library's table lock during inserts makes committed
ids visible in order, so nothing below the highest visible id can appear later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Notification


class EventLog:
    """The notification log of ``app``, the process's booking service (never used to command)."""

    def __init__(self, app: Application[Any]) -> None:
        self.app = app

    def head(self) -> int:
        """The highest notification id recorded so far (0 when there is none)."""
        return self.app.recorder.max_notification_id() or 0

    def read(self, after: int, limit: int, stop: int | None = None) -> Sequence[Notification]:
        """Up to ``limit`` notifications with ids above ``after`` (and at most ``stop``)."""
        return self.app.recorder.select_notifications(start=after + 1, limit=limit, stop=stop)

    def decode(self, notification: Notification) -> Any:
        return self.app.mapper.to_domain_event(notification)

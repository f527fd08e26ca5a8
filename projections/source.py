"""EventLog: reads the booking application's notification log and decodes its events.

Reads through the application's own recorder and mapper, so the events are decoded exactly
as the command side wrote them. It never writes. Reading by ``notification id > position``
never waits for a gap: on PostgreSQL a rolled-back insert leaves an id unused forever, and
the library's table lock during inserts makes committed ids visible in order, so nothing
below the highest visible id can appear later.

On PostgreSQL it reads with one statement of its own, its text built once: the recorder's
``select_notifications`` composes its SQL anew and converts every row through a dict on each
call, which cost as much client CPU as the rest of a one-event batch. Decoding skips what only
a writer needs (``ChainedMapper.read_domain_event``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql
from psycopg.rows import tuple_row

from commands.chain import ChainedMapper

NO_STOP = 2**63 - 1  # above any notification id (bigint)


class EventLog:
    """The notification log of ``app``, the process's booking service (never used to command)."""

    def __init__(self, app: Application[Any]) -> None:
        self.app = app
        mapper = app.mapper
        self.decode: Callable[[Notification], Any] = (
            mapper.read_domain_event if isinstance(mapper, ChainedMapper) else mapper.to_domain_event
        )
        recorder = app.recorder
        self._postgres = recorder if isinstance(recorder, PostgresApplicationRecorder) else None
        self._select: bytes | None = None

    def head(self) -> int:
        """The highest notification id recorded so far (0 when there is none)."""
        return self.app.recorder.max_notification_id() or 0

    def read(self, after: int, limit: int, stop: int | None = None) -> Sequence[Notification]:
        """Up to ``limit`` notifications with ids above ``after`` (and at most ``stop``)."""
        if self._postgres is None:
            return self.app.recorder.select_notifications(start=after + 1, limit=limit, stop=stop)
        recorder = self._postgres
        with recorder.datastore.get_connection() as conn:
            if self._select is None:
                self._select = (
                    sql.SQL(
                        "SELECT notification_id, originator_id, originator_version, topic, state "
                        "FROM {}.{} WHERE notification_id > %s AND notification_id <= %s "
                        "ORDER BY notification_id LIMIT %s"
                    )
                    .format(
                        sql.Identifier(recorder.datastore.schema), sql.Identifier(recorder.events_table_name)
                    )
                    .as_bytes(conn)
                )
            with conn.cursor(row_factory=tuple_row) as cursor:
                cursor.execute(self._select, (after, NO_STOP if stop is None else stop, limit), prepare=True)
                return [
                    Notification(
                        id=notification_id,
                        originator_id=originator_id,
                        originator_version=version,
                        topic=topic,
                        state=bytes(state),
                    )
                    for notification_id, originator_id, version, topic, state in cursor.fetchall()
                ]

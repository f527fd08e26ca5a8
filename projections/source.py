"""EventLog: reads the booking application's notification log and decodes its events.

Reads through the application's own recorder and mapper, so the events are decoded exactly
as the command side wrote them. It never writes. Reading by ``notification id > position``
never waits for a gap: on PostgreSQL a rolled-back insert leaves an id unused forever, and
the library's table lock during inserts makes committed ids visible in order, so nothing
below the highest visible id can appear later.

On PostgreSQL it reads with statements of its own, their text built once and their rows in
binary: the recorder's ``select_notifications`` composes its SQL anew and converts every row
through a dict on each call, which cost as much client CPU as the rest of a one-event batch.
Decoding skips what only a writer needs (``ChainedMapper.read_domain_event``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
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
        self._selects: dict[bool, bytes] = {}  # by whether it filters topics

    def head(self) -> int:
        """The highest notification id recorded so far (0 when there is none)."""
        return self.app.recorder.max_notification_id() or 0

    def read(
        self, after: int, limit: int, stop: int | None = None, topics: Collection[str] | None = None
    ) -> Sequence[Notification]:
        """Up to ``limit`` notifications with ids above ``after`` (and at most ``stop``), only
        those of ``topics`` if given."""
        if self._postgres is None:
            return self.app.recorder.select_notifications(
                start=after + 1, limit=limit, stop=stop, topics=tuple(topics or ())
            )
        recorder = self._postgres
        with recorder.datastore.get_connection() as conn:
            if not self._selects:
                table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
                for filtered, condition in ((False, ""), (True, " AND topic = ANY(%s)")):
                    self._selects[filtered] = (
                        sql.SQL(
                            "SELECT notification_id, originator_id, originator_version, topic, state "
                            "FROM {} WHERE notification_id > %s AND notification_id <= %s" + condition + " "
                            "ORDER BY notification_id LIMIT %s"
                        )
                        .format(table)
                        .as_bytes(conn)
                    )
            params = (after, NO_STOP if stop is None else stop, *([list(topics)] if topics else []), limit)
            with conn.cursor(row_factory=tuple_row, binary=True) as cursor:
                cursor.execute(self._selects[bool(topics)], params, prepare=True)
                return [
                    Notification(
                        id=notification_id,
                        originator_id=originator_id,
                        originator_version=version,
                        topic=topic,
                        state=state,
                    )
                    for notification_id, originator_id, version, topic, state in cursor.fetchall()
                ]

"""Our PostgreSQL recorder: a command's events written in one round trip to the database.

The library's recorder writes in a transaction of several statements (lock the events table,
notify, insert, commit). This one calls a function that does exactly that inside the single
statement's own transaction: it takes the same ``EXCLUSIVE`` lock on the events table before
any notification id is drawn and holds it until the commit, so ids still commit in the order
they were drawn and no follower of the notification log can skip an event; it notifies the
log's channel; and it inserts every event of the command with one ``INSERT … SELECT unnest``.
A stream version already taken still raises the library's ``IntegrityError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier


class OneTripPostgresRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.insert_function_name = f"{events_table_name}_insert_locked"
        schema = Identifier(self.datastore.schema)
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}(events {schema}.{event}[]) "
                "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
                "BEGIN "
                "    PERFORM set_config('lock_timeout', '{lock_timeout}s', true); "
                "    LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
                "    NOTIFY {channel}; "
                "    RETURN QUERY "
                "    INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
                "    SELECT originator_id, originator_version, topic, state FROM unnest(events) "
                "    RETURNING notification_id; "
                "END; $BODY$"
            ).format(
                schema=schema,
                function=Identifier(self.insert_function_name),
                event=Identifier(self.stored_event_type_name),
                lock_timeout=SQL(str(int(self.datastore.lock_timeout))),
                table=Identifier(self.events_table_name),
                channel=Identifier(self.channel_name),
            )
        )
        self.call_insert_function = SQL("SELECT * FROM {schema}.{function}(%s)").format(
            schema=schema, function=Identifier(self.insert_function_name)
        )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if kwargs.get("tracking") is not None or not stored_events:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        rows = [
            self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
            for e in stored_events
        ]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.call_insert_function, (rows,), prepare=True)
            return [int(row[self.insert_function_name]) for row in curs.fetchall()]

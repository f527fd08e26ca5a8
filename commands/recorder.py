"""Our PostgreSQL recorder: a command's events written in one round trip to the database.

The library's recorder writes in a transaction of several statements (lock the events table,
notify, insert, commit). This one calls a function that does exactly that inside the single
statement's own transaction: it takes the same ``EXCLUSIVE`` lock on the events table before
any notification id is drawn and holds it until the commit, so ids still commit in the order
they were drawn and no follower of the notification log can skip an event; it notifies the
log's channel; and it inserts every event of the command with one ``INSERT … SELECT unnest``.
A stream version already taken still raises the library's ``IntegrityError``.

It also reads many streams in one round trip (``select_streams``: the latest snapshot of each,
and its events from there on) and asks in one round trip which of many streams moved past a
known version (``streams_moved``). The module's functions of the same names fall back to one
read per stream on the other recorders (SQLite, in memory), with the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    InterfaceError,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
)
from eventsourcing.utils import retry
from psycopg import RawCursor
from psycopg.sql import SQL, Composed, Identifier


@dataclass
class Streams:
    """Several streams as stored: the latest snapshot of each stream that has one, and each
    stream's events in version order from that snapshot's version on, inclusive (so the event
    the snapshot was taken at is there too: its hash-chain link is the stream's head when no
    event followed), or all of them when it has no snapshot."""

    snapshots: dict[UUID, StoredEvent] = field(default_factory=dict)
    events: dict[UUID, list[StoredEvent]] = field(default_factory=dict)

    def add(self, stored: StoredEvent, *, snapshot: bool = False) -> None:
        ident = UUID(str(stored.originator_id))
        if snapshot:
            self.snapshots[ident] = stored
        else:
            self.events.setdefault(ident, []).append(stored)


def select_streams(
    recorder: AggregateRecorder,
    snapshot_recorder: AggregateRecorder | None,
    ids: Sequence[UUID],
    snapshotting: Sequence[UUID] = (),
) -> Streams:
    """The streams ``ids``, starting from their latest snapshot for those in ``snapshotting``."""
    if isinstance(recorder, OneTripPostgresRecorder):
        if not snapshotting:
            selected: Streams = recorder.select_streams(ids)
            return selected
        if isinstance(snapshot_recorder, PostgresAggregateRecorder):
            selected = recorder.select_streams(ids, snapshotting, snapshot_recorder.events_table_name)
            return selected
    streams = Streams()
    for ident in ids:
        since = 0
        if snapshot_recorder is not None and ident in snapshotting:
            for snapshot in snapshot_recorder.select_events(ident, desc=True, limit=1):
                streams.add(snapshot, snapshot=True)
                since = snapshot.originator_version
        for stored in recorder.select_events(ident, gt=since - 1 if since else None):
            streams.add(stored)
    return streams


def streams_moved(recorder: AggregateRecorder, heads: Sequence[tuple[UUID, int]]) -> set[UUID]:
    """Which of the streams has an event after the version given with it."""
    if isinstance(recorder, OneTripPostgresRecorder):
        moved: set[UUID] = recorder.streams_moved(heads)
        return moved
    return {ident for ident, version in heads if recorder.select_events(ident, gt=version, limit=1)}


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
        self._call_statements: dict[int, Composed] = {}
        self._rendered_statements: dict[int, tuple[Composed, bytes]] = {}
        id_type = Identifier(self.datastore.originator_id_type)
        events = SQL("{schema}.{table}").format(schema=schema, table=Identifier(self.events_table_name))
        self.select_streams_statement = SQL(
            "SELECT false AS snapshot, e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%s::{id_type}[]) AS s(id) JOIN {events} e ON e.originator_id = s.id "
            "ORDER BY e.originator_id, e.originator_version"
        ).format(id_type=id_type, events=events)
        self._snapshot_statements: dict[str, Composed] = {}
        self.streams_moved_statement = SQL(
            "SELECT h.id FROM unnest(%s::{id_type}[], %s::bigint[]) AS h(id, version) "
            "WHERE EXISTS (SELECT 1 FROM {events} e "
            "WHERE e.originator_id = h.id AND e.originator_version > h.version)"
        ).format(id_type=id_type, events=events)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_streams(
        self, ids: Sequence[UUID], snapshotting: Sequence[UUID] = (), snapshots_table: str | None = None
    ) -> Streams:
        """Every event of the streams ``ids`` in one round trip; for those in ``snapshotting``,
        their latest snapshot in ``snapshots_table`` and their events from its version on."""
        if snapshotting and snapshots_table is not None:
            statement = self._select_streams_from_snapshots(snapshots_table)
            params: tuple[Any, ...] = (list(snapshotting), list(ids))
        else:
            statement, params = self.select_streams_statement, (list(ids),)
        streams = Streams()
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._rendered(statement, conn), params, prepare=True)
            for row in curs.fetchall():
                stored = StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                streams.add(stored, snapshot=row["snapshot"])
        return streams

    def _select_streams_from_snapshots(self, snapshots_table: str) -> Composed:
        """The statement for ``snapshots_table``, composed once."""
        if snapshots_table not in self._snapshot_statements:
            self._snapshot_statements[snapshots_table] = self._compose_from_snapshots(snapshots_table)
        return self._snapshot_statements[snapshots_table]

    def _compose_from_snapshots(self, snapshots_table: str) -> Composed:
        schema = Identifier(self.datastore.schema)
        return SQL(
            "WITH snap AS ("
            "  SELECT DISTINCT ON (n.originator_id) n.originator_id, n.originator_version, n.topic, n.state"
            "  FROM unnest(%s::{id_type}[]) AS s(id) JOIN {schema}.{snapshots} n ON n.originator_id = s.id"
            "  ORDER BY n.originator_id, n.originator_version DESC) "
            "SELECT true AS snapshot, originator_id, originator_version, topic, state FROM snap "
            "UNION ALL "
            "SELECT false, e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%s::{id_type}[]) AS s(id) JOIN {schema}.{events} e ON e.originator_id = s.id "
            "LEFT JOIN snap ON snap.originator_id = s.id "
            "WHERE e.originator_version >= coalesce(snap.originator_version, 0) "
            "ORDER BY 1 DESC, 2, 3"
        ).format(
            id_type=Identifier(self.datastore.originator_id_type),
            schema=schema,
            snapshots=Identifier(snapshots_table),
            events=Identifier(self.events_table_name),
        )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def streams_moved(self, heads: Sequence[tuple[UUID, int]]) -> set[UUID]:
        """Which of the streams has an event after the version given with it (one round trip)."""
        if not heads:
            return set()
        ids, versions = [ident for ident, _ in heads], [version for _, version in heads]
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._rendered(self.streams_moved_statement, conn), (ids, versions), prepare=True)
            return {UUID(str(row["id"])) for row in curs.fetchall()}

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if kwargs.get("tracking") is not None or not stored_events:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        params: list[Any] = []
        for e in stored_events:
            params += (e.originator_id, e.originator_version, e.topic, e.state)
        with self.datastore.get_connection() as conn, RawCursor(conn, row_factory=conn.row_factory) as curs:
            curs.execute(
                self._rendered(self._call_insert_function(len(stored_events)), conn), params, prepare=True
            )
            return [int(row[self.insert_function_name]) for row in curs.fetchall()]

    def _rendered(self, statement: Composed, conn: Any) -> bytes:
        """The statement's bytes, rendered once: psycopg would render a composed statement on
        every execution, quoting each identifier through libpq again."""
        known = self._rendered_statements.get(id(statement))
        if known is None or known[0] is not statement:
            known = self._rendered_statements[id(statement)] = (statement, statement.as_bytes(conn))
        return known[1]

    def _call_insert_function(self, count: int) -> Composed:
        """The call of the insert function for ``count`` events, composed once per count.

        Each event's four fields are plain parameters built into the composite array by the
        server: dumping them is psycopg's C work, where a list of composite values is dumped
        in Python, field by field (a sixth of a command's CPU). The parameters are PostgreSQL's
        own (``$1``), run by a ``RawCursor``: psycopg caches its parsing of ``%s`` only up to
        50 parameters, and a save of the scheduler's group of deadlines has a hundred or more,
        whose parsing took a quarter of the group's CPU."""
        statement = self._call_statements.get(count)
        if statement is None:
            event = SQL("::{schema}.{event}").format(
                schema=Identifier(self.datastore.schema), event=Identifier(self.stored_event_type_name)
            )
            rows = [
                SQL(f"ROW(${4 * i + 1}, ${4 * i + 2}, ${4 * i + 3}, ${4 * i + 4})") + event
                for i in range(count)
            ]
            statement = SQL("SELECT * FROM {schema}.{function}(ARRAY[{rows}])").format(
                schema=Identifier(self.datastore.schema),
                function=Identifier(self.insert_function_name),
                rows=SQL(", ").join(rows),
            )
            self._call_statements[count] = statement
        return statement

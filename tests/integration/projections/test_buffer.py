"""A view's row buffer writes back exactly the batch's changes, on SQLite and PostgreSQL: changed
and new rows upserted, vanished rows deleted, untouched rows left alone, created keys inserted
(copied in, for a rebuild)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from projections.buffer import RowBuffer
from projections.database import create_read_engine
from projections.driver import batched
from projections.tables import create_tables, pending_deadlines_tables, room_details_tables

INSTANT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # any instant: only the keys matter here


def rows_of(engine: sa.Engine, table: sa.Table) -> set[tuple[Any, ...]]:
    with engine.connect() as conn:
        return {tuple(row) for row in conn.execute(sa.select(table.c.booking_id, table.c.kind))}


def test_a_flush_upserts_changed_rows_deletes_vanished_ones_and_inserts_created_keys(
    database_url: str,
) -> None:
    engine = create_read_engine(database_url)
    metadata = sa.MetaData()
    _, deadlines = pending_deadlines_tables(metadata, "buffer_test_")
    create_tables(engine, metadata)
    instant = INSTANT
    with engine.begin() as conn:
        conn.execute(
            sa.insert(deadlines),
            [
                {"booking_id": "b1", "kind": "confirmation", "due": instant, "booking_version": 1},
                {"booking_id": "b1", "kind": "free_cancellation", "due": instant, "booking_version": 1},
                {"booking_id": "b2", "kind": "confirmation", "due": instant, "booking_version": 1},
            ],
        )

    for bulk in (False, True):
        with engine.begin() as conn:
            buffer = RowBuffer(deadlines, "booking_id", bulk=bulk)
            rows = buffer.get(conn, "b1")
            kept = next(row for row in rows if row["kind"] == "free_cancellation")
            buffer.put("b1", [{**kept, "booking_version": 2}, {**kept, "kind": "session_end"}])
            buffer.get(conn, "b2")  # read, not changed: left alone
            created = [
                {"booking_id": f"new-{bulk}", "kind": k, "due": instant, "booking_version": 1} for k in "ab"
            ]
            buffer.create(f"new-{bulk}", created)
            buffer.flush(conn)

    assert rows_of(engine, deadlines) == {
        ("b1", "free_cancellation"),
        ("b1", "session_end"),
        ("b2", "confirmation"),
        ("new-False", "a"),
        ("new-False", "b"),
        ("new-True", "a"),
        ("new-True", "b"),
    }
    with engine.connect() as conn:
        query = sa.select(deadlines.c.kind, deadlines.c.booking_version).where(deadlines.c.booking_id == "b1")
        versions = {kind: version for kind, version in conn.execute(query)}
    assert versions == {"free_cancellation": 2, "session_end": 2}
    engine.dispose()


def test_rows_put_without_being_read_replace_whatever_the_key_had(database_url: str) -> None:
    engine = create_read_engine(database_url)
    metadata = sa.MetaData()
    _, deadlines = pending_deadlines_tables(metadata, "buffer_test_")
    rooms, _ = room_details_tables(metadata, "buffer_test_")
    create_tables(engine, metadata)
    instant = INSTANT
    with engine.begin() as conn:
        conn.execute(
            sa.insert(deadlines),
            [{"booking_id": "b1", "kind": kind, "due": instant, "booking_version": 1} for kind in ("x", "y")],
        )
        room = {
            "room_id": "r1",
            "member_id": "m",
            "provider_id": "p",
            "opened_at": instant,
            "last_change_type": "RoomOpened",
            "last_change_at": instant,
        }
        conn.execute(sa.insert(rooms), room)

    with engine.begin() as conn:
        buffer = RowBuffer(deadlines, "booking_id")
        buffer.put("b1", [{"booking_id": "b1", "kind": "z", "due": instant, "booking_version": 2}])
        buffer.flush(conn)
        room_buffer = RowBuffer(rooms, "room_id")  # one row per key: an upsert replaces it
        room_buffer.put("r1", [{**room, "last_change_type": "SessionReserved"}])
        room_buffer.flush(conn)

    assert rows_of(engine, deadlines) == {("b1", "z")}
    with engine.connect() as conn:
        assert conn.execute(sa.select(rooms.c.last_change_type)).scalars().all() == ["SessionReserved"]
    engine.dispose()


def test_a_write_the_database_refuses_raises_sqlalchemys_error_and_keeps_nothing(database_url: str) -> None:
    """On PostgreSQL the writes go to the driver, in one pipeline: its error still arrives as
    SQLAlchemy's (which the runner sorts into transient and not), and the transaction rolls back."""
    engine = create_read_engine(database_url)
    metadata = sa.MetaData()
    _, deadlines = pending_deadlines_tables(metadata, "buffer_test_")
    create_tables(engine, metadata)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn, batched(conn):
        buffer = RowBuffer(deadlines, "booking_id")
        buffer.put("b1", [{"booking_id": "b1", "kind": "x", "due": INSTANT, "booking_version": 1}])
        buffer.put("b2", [{"booking_id": "b2", "kind": "x", "due": INSTANT, "booking_version": None}])
        buffer.flush(conn)
    assert rows_of(engine, deadlines) == set()
    engine.dispose()

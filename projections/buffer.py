"""RowBuffer: the rows of one table touched by a batch, read once and rewritten once.

A view applies a batch of events to rows held in memory, then ``flush`` deletes the touched
keys and inserts their final rows: a handful of statements per table and batch instead of
several per event (each statement is a network round trip on PostgreSQL). A buffer lives
for one transaction only, so it never holds state that the database might not have.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

import sqlalchemy as sa

CHUNK = 500  # keys per IN (...) list

Row = dict[str, Any]


class RowBuffer:
    """Rows grouped by the value of one column (the table's key, or a prefix of it)."""

    def __init__(self, table: sa.Table, key: str) -> None:
        self.table = table
        self.key = key
        column = table.c[key]
        keys: sa.BindParameter[list[Any]] = sa.bindparam("keys", expanding=True)
        self._select = sa.select(table).where(column.in_(keys))
        self._delete = sa.delete(table).where(column.in_(keys))
        self._insert = sa.insert(table)
        self.rows: dict[Hashable, list[Row]] = {}
        self.touched: set[Hashable] = set()

    def prefetch(self, conn: sa.Connection, keys: Iterable[Hashable]) -> None:
        """Load, in a few statements, the rows of every key not loaded yet."""
        missing = sorted({k for k in keys if k not in self.rows}, key=str)
        for start in range(0, len(missing), CHUNK):
            chunk = missing[start : start + CHUNK]
            for key in chunk:
                self.rows[key] = []
            for row in conn.execute(self._select, {"keys": chunk}):
                self.rows[row._mapping[self.key]].append(dict(row._mapping))

    def get(self, conn: sa.Connection, key: Hashable) -> list[Row]:
        """The rows of ``key`` (loaded on demand); mutate them only through ``put``."""
        if key not in self.rows:
            self.prefetch(conn, [key])
        return self.rows[key]

    def one(self, conn: sa.Connection, key: Hashable) -> Row | None:
        rows = self.get(conn, key)
        return rows[0] if rows else None

    def put(self, key: Hashable, rows: list[Row]) -> None:
        """Replace the rows of ``key``; they are written at ``flush``."""
        self.rows[key] = rows
        self.touched.add(key)

    def flush(self, conn: sa.Connection) -> None:
        touched = sorted(self.touched, key=str)
        for start in range(0, len(touched), CHUNK):
            conn.execute(self._delete, {"keys": touched[start : start + CHUNK]})
        rows = [row for key in touched for row in self.rows[key]]
        if rows:
            conn.execute(self._insert, rows)
        self.touched.clear()

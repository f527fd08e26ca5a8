"""RowBuffer: the rows of one table touched by a batch, read once and written back once.

A view applies a batch of events to rows held in memory; ``flush`` then writes only what
changed: one multi-row upsert (``INSERT … ON CONFLICT DO UPDATE``) of the new and changed
rows, and deletes for the rows that vanished. A handful of statements per table and batch,
whatever its size, and none for a row the batch left as it was (each statement costs a
network round trip and a few hundred microseconds of driver CPU on PostgreSQL). A buffer
lives for one transaction only, so it never holds state that the database might not have.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from projections.driver import write

CHUNK = 1000  # keys per IN (...) list

Row = dict[str, Any]


class RowBuffer:
    """Rows grouped by the value of one column (the table's key, or a prefix of it)."""

    def __init__(self, table: sa.Table, key: str, *, bulk: bool = False) -> None:
        """``bulk``: the table was empty when the view's position was last reset and every key
        created since was created by this buffer's view, so rows of created keys are new rows
        (a rebuild): on PostgreSQL they are copied in with ``COPY`` instead of upserted."""
        self.table = table
        self.key = key
        self.bulk = bulk
        self._statements = _statements(table, key)
        self.rows: dict[Hashable, list[Row]] = {}
        self.loaded: dict[Hashable, dict[tuple[Any, ...], tuple[Any, ...]]] = {}  # as read, by primary key
        self.touched: set[Hashable] = set()
        self.created: set[Hashable] = set()

    def prefetch(self, conn: sa.Connection, keys: Iterable[Hashable]) -> None:
        """Load, in a few statements, the rows of every key not loaded yet."""
        missing = sorted({k for k in keys if k not in self.rows}, key=str)
        for start in range(0, len(missing), CHUNK):
            chunk = missing[start : start + CHUNK]
            found: dict[Hashable, list[Row]] = {key: [] for key in chunk}
            for row in conn.execute(self._statements.select, {"keys": chunk}):
                values = dict(row._mapping)
                found[values[self.key]].append(values)
            for key, rows in found.items():
                self.load(key, rows)

    def load(self, key: Hashable, rows: list[Row]) -> None:
        """Take the stored rows of ``key`` as read by the caller (say, joined to another table's)."""
        if key not in self.rows:
            self.rows[key] = rows
            self.loaded[key] = {self._primary_key(row): self._values(row) for row in rows}

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

    def create(self, key: Hashable, rows: list[Row]) -> None:
        """The first rows of ``key``, from the event that creates it (an aggregate's first event,
        recorded once per id): nothing of it can be stored yet, so nothing is read or deleted."""
        self.loaded.setdefault(key, {})
        self.created.add(key)
        self.put(key, rows)

    def flush(self, conn: sa.Connection) -> None:
        """Write the touched keys' rows: upsert new and changed rows, delete vanished ones."""
        replaced: list[Hashable] = []  # keys put without being read: their old rows are unknown
        vanished: list[dict[str, Any]] = []
        changed: list[Row] = []
        new: list[Row] = []
        for key in sorted(self.touched, key=str):
            rows = self.rows[key]
            before = self.loaded.get(key)
            if self.bulk and key in self.created:
                new.extend(rows)
                continue
            if before is None:
                if not self._statements.one_row_per_key or not rows:
                    replaced.append(key)
                changed.extend(rows)
                continue
            after = {self._primary_key(row): row for row in rows}
            vanished.extend(self._key_params(pk) for pk in before if pk not in after)
            changed.extend(row for pk, row in after.items() if before.get(pk) != self._values(row))
        for start in range(0, len(replaced), CHUNK):
            keys = {"keys": replaced[start : start + CHUNK]}
            if conn.dialect.name == "postgresql":  # a list parameter, so that it runs on the driver
                write(conn, self._statements.delete_any, keys)
            else:
                conn.execute(self._statements.delete_keys, keys)
        if vanished:
            write(conn, self._statements.delete_rows, vanished)
        if changed:
            write(conn, self._statements.upsert(conn.dialect), changed)
        if new:
            insert_rows(conn, self.table, new, bulk=True)
        self.touched.clear()

    def _primary_key(self, row: Row) -> tuple[Any, ...]:
        return tuple(row[name] for name in self._statements.primary_key)

    def _values(self, row: Row) -> tuple[Any, ...]:
        return tuple(row[name] for name in self._statements.columns)

    def _key_params(self, primary_key: tuple[Any, ...]) -> dict[str, Any]:
        return {
            f"pk_{name}": value for name, value in zip(self._statements.primary_key, primary_key, strict=True)
        }


def insert_rows(conn: sa.Connection, table: sa.Table, rows: Sequence[Row], *, bulk: bool = False) -> None:
    """Insert new rows: with ``bulk`` on PostgreSQL by ``COPY`` (a tenth of the client CPU of a
    multi-row insert, which matters to a rebuild writing thousands of rows a batch), else by
    one executemany insert."""
    if not rows:
        return
    if not (bulk and conn.dialect.name == "postgresql" and len(rows) > 1):
        write(conn, _insert(conn.dialect, table), rows)
        return
    statement, values_of, processed = _copy_plan(conn.dialect, table)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor, cursor.copy(statement) as copy:
        for row in rows:
            values = list(values_of(row))
            for index, process in processed:
                if values[index] is not None:
                    values[index] = process(values[index])
            copy.write_row(values)


def _insert(dialect: sa.Dialect, table: sa.Table) -> sa.TextClause:
    """``INSERT`` of every column of ``table`` (as text, built once per table; see ``upsert``)."""
    key = ("insert", dialect.name)
    statement = table.info.get(key)
    if statement is None:
        quote = dialect.identifier_preparer.quote
        text = (
            f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
            f"({', '.join(quote(column.name) for column in table.columns)}) "
            f"VALUES ({', '.join(f':{column.name}' for column in table.columns)})"
        )
        types = (sa.bindparam(column.name, type_=column.type) for column in table.columns)
        statement = table.info[key] = sa.text(text).bindparams(*types)
    return statement


def _copy_plan(
    dialect: sa.Dialect, table: sa.Table
) -> tuple[str, Callable[[Row], tuple[Any, ...]], list[tuple[int, Callable[[Any], Any]]]]:
    """The table's ``COPY`` statement, a getter of a row's values in column order, and the columns
    whose values need the type's bind processing; built once per table (per row they cost
    more than the copying)."""
    key = ("copy", dialect.name)
    plan = table.info.get(key)
    if plan is None:
        names = [column.name for column in table.columns]
        processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in table.columns]
        quote = dialect.identifier_preparer.quote
        target = f"{dialect.identifier_preparer.format_table(table)} ({', '.join(map(quote, names))})"
        statement = f"COPY {target} FROM STDIN"
        getter = itemgetter(*names)
        values_of = getter if len(names) > 1 else lambda row: (getter(row),)
        processed = [(index, process) for index, process in enumerate(processors) if process is not None]
        plan = table.info[key] = (statement, values_of, processed)
    return plan  # type: ignore[return-value]


class _Statements:
    """The statements a buffer of ``table`` grouped by ``key`` runs, built once per table (building
    and caching a statement costs more CPU than the rest of a small batch)."""

    def __init__(self, table: sa.Table, key: str) -> None:
        column = table.c[key]
        keys: sa.BindParameter[list[Any]] = sa.bindparam("keys", expanding=True)
        self.table = table
        self.columns: Sequence[str] = [c.name for c in table.columns]
        self.primary_key: Sequence[str] = [c.name for c in table.primary_key]
        self.one_row_per_key = list(self.primary_key) == [key]
        self.select = sa.select(table).where(column.in_(keys))
        self.delete_keys = sa.delete(table).where(column.in_(keys))
        self.delete_any = sa.text(f"DELETE FROM {_name(table)} WHERE {_name(column)} = ANY(:keys)")
        self.delete_rows = sa.delete(table).where(
            *(table.c[name] == sa.bindparam(f"pk_{name}") for name in self.primary_key)
        )
        self._upserts: dict[str, sa.TextClause] = {}

    def upsert(self, dialect: sa.Dialect) -> sa.TextClause:
        """``INSERT … ON CONFLICT (primary key) DO UPDATE`` setting every other column (the same
        text on PostgreSQL and SQLite). Written as text because SQLAlchemy never caches its
        dialect-specific upsert constructs: compiling one anew for every batch cost more CPU
        than executing it."""
        if dialect.name not in self._upserts:
            quote = dialect.identifier_preparer.quote
            others = [name for name in self.columns if name not in self.primary_key]
            action = (
                "DO UPDATE SET " + ", ".join(f"{quote(name)} = excluded.{quote(name)}" for name in others)
                if others
                else "DO NOTHING"
            )
            text = (
                f"INSERT INTO {dialect.identifier_preparer.format_table(self.table)} "
                f"({', '.join(quote(name) for name in self.columns)}) "
                f"VALUES ({', '.join(f':{name}' for name in self.columns)}) "
                f"ON CONFLICT ({', '.join(quote(name) for name in self.primary_key)}) {action}"
            )
            types = (sa.bindparam(column.name, type_=column.type) for column in self.table.columns)
            self._upserts[dialect.name] = sa.text(text).bindparams(*types)
        return self._upserts[dialect.name]


def _name(element: sa.Table | sa.Column[Any]) -> str:
    """The quoted name of a table (with its schema) or column, as PostgreSQL spells it."""
    preparer = postgresql.dialect().identifier_preparer
    return preparer.format_table(element) if isinstance(element, sa.Table) else preparer.quote(element.name)


def _statements(table: sa.Table, key: str) -> _Statements:
    """The table's statements, kept in its ``info`` so that they live exactly as long as it does."""
    statements = table.info.get(("row_buffer", key))
    if statements is None:
        statements = table.info[("row_buffer", key)] = _Statements(table, key)
    return statements

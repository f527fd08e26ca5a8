"""Which version of each view the live tables hold, and which one this code builds.

A view's schema version is its declared ``revision`` (moved by hand when its handlers change
what they write) joined to a fingerprint of its tables (names without prefix, columns, types,
keys, indexes), so changing a table can never go unnoticed. The ``view_versions`` table keeps,
per view, the version its live tables hold (``NULL`` for tables a release wrote before versions
were recorded: always rebuilt) and the version being built beside them, if any.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from projections.tables import UTCDateTime

VERSIONS_TABLE = "view_versions"


def view_versions_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        VERSIONS_TABLE,
        metadata,
        sa.Column("view_name", sa.String(100), primary_key=True),
        sa.Column("schema_version", sa.String(40), nullable=True),
        sa.Column("building_version", sa.String(40), nullable=True),
        sa.Column("building_prefix", sa.String(40), nullable=True),
        sa.Column("changed_at", UTCDateTime, nullable=False),
    )


def fingerprint(revision: int, tables: Sequence[sa.Table], prefix: str) -> str:
    """``<revision>-<12 hex digits>``: the same for the same revision and table shapes."""
    lines: list[str] = []
    for table in sorted(tables, key=lambda t: t.name):
        lines.append(f"table {table.name.removeprefix(prefix)}")
        for column in table.columns:
            server_default = column.server_default
            default = server_default.arg if isinstance(server_default, sa.DefaultClause) else None
            lines.append(
                f"  {column.name} {column.type!r} null={column.nullable} pk={column.primary_key} "
                f"unique={column.unique} default={default}"
            )
        for index in sorted(table.indexes, key=lambda i: [c.name for c in i.columns]):
            lines.append(f"  index {[c.name for c in index.columns]} unique={index.unique}")
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]
    return f"{revision}-{digest}"


@dataclass(frozen=True)
class Recorded:
    """A view's row of ``view_versions``."""

    live: str | None  # the live tables' version; None: written before versions were recorded
    building: str | None  # the version being built beside them, if any
    prefix: str | None  # the table-name prefix it is built under


class Versions:
    """Reads and writes ``view_versions`` (the caller holds the schema lock for writes)."""

    def __init__(self, engine: sa.Engine, metadata: sa.MetaData | None = None) -> None:
        self.engine = engine
        self.table = view_versions_table(metadata if metadata is not None else sa.MetaData())

    def read(self, conn: sa.Connection | None = None) -> dict[str, Recorded]:
        if conn is None:
            with self.engine.connect() as own:
                return self.read(own)
        rows = conn.execute(sa.select(self.table)).all()
        return {
            row.view_name: Recorded(row.schema_version, row.building_version, row.building_prefix)
            for row in rows
        }

    def record_live(self, conn: sa.Connection, view_name: str, version: str | None) -> None:
        self._upsert(conn, view_name, schema_version=version, building_version=None, building_prefix=None)

    def record_building(
        self, conn: sa.Connection, view_name: str, version: str | None, prefix: str | None
    ) -> None:
        self._upsert(conn, view_name, building_version=version, building_prefix=prefix)

    def _upsert(self, conn: sa.Connection, view_name: str, **values: str | None) -> None:
        now = datetime.now(UTC)  # when an operator's process changed it: not a domain instant
        updated = conn.execute(
            sa.update(self.table).where(self.table.c.view_name == view_name).values(changed_at=now, **values)
        ).rowcount
        if not updated:
            conn.execute(sa.insert(self.table).values(view_name=view_name, changed_at=now, **values))

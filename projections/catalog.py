"""The catalogue of views: build every view (or the named ones) under a table-name prefix.

The live views use the empty prefix; ``verify`` and a blue/green rebuild build the same views
under a prefix of their own. Building creates missing tables and tracking rows (under the
schema lock, so processes starting together never race on DDL); it never deletes anything.
Live tables are created only in a database that has none: tables an earlier release wrote are
left as they are, their version recorded, and ``projections.upgrade`` rebuilds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from migrations.lock import SCHEMA, advisory_lock
from projections.credit_balances import CreditBalances
from projections.pending_deadlines import PendingDeadlines
from projections.room_details import RoomDetails
from projections.tables import (
    create_tables,
    credit_balances_tables,
    pending_deadlines_tables,
    room_details_tables,
    stalls_table,
    tracking_table,
)
from projections.tracking import ViewRecorder
from projections.versions import Versions, fingerprint
from projections.view import View

VIEW_NAMES = (RoomDetails.name, CreditBalances.name, PendingDeadlines.name)

REPLAY_GROUPS = ((RoomDetails.name, PendingDeadlines.name), (CreditBalances.name,))
"""Views that apply the same events (a booking's), replayed by one process in a rebuild so that
each event is decoded once; the credit balances apply only the credit accounts' events."""


def build_views(engine: sa.Engine, prefix: str = "", names: Sequence[str] | None = None) -> list[View]:
    """The named views (all by default), their tables created and tracking rows present."""
    wanted = tuple(names) if names else VIEW_NAMES
    unknown = [name for name in wanted if name not in VIEW_NAMES]
    if unknown:
        raise ValueError(f"unknown view {', '.join(unknown)}; views are {', '.join(VIEW_NAMES)}")
    metadata = sa.MetaData()
    tracking = tracking_table(metadata)
    stalls = stalls_table(metadata)
    versions = Versions(engine, metadata)
    constructors = {
        RoomDetails.name: (RoomDetails, room_details_tables),
        CreditBalances.name: (CreditBalances, credit_balances_tables),
        PendingDeadlines.name: (PendingDeadlines, pending_deadlines_tables),
    }
    views: list[View] = []
    for name in wanted:
        cls, define = constructors[name]
        recorder = ViewRecorder(engine, f"{prefix}{name}", tracking, stalls)
        views.append(cls(recorder, define(metadata, prefix)))
    with advisory_lock(engine, SCHEMA):
        if prefix:
            create_tables(engine, metadata)
        else:
            create_tables(engine, tracking.metadata, [tracking, stalls, versions.table])
            _prepare_live(engine, versions, views)
        for view in views:
            view.view.ensure_row()
    return views


def _prepare_live(engine: sa.Engine, versions: Versions, views: Sequence[View]) -> None:
    """Create the live tables of views that have none, recording their version; record tables
    written before versions were (an earlier release's) as of no version, to be rebuilt."""
    with engine.begin() as conn:
        recorded = versions.read(conn)
        existing = set(sa.inspect(conn).get_table_names())
        for view in views:
            if view.name in recorded:
                continue
            if any(table.name in existing for table in view.tables):
                versions.record_live(conn, view.name, None)
                continue
            for table in view.tables:
                table.create(conn)
            versions.record_live(conn, view.name, view.schema_version)


def outdated(engine: sa.Engine, views: Sequence[View]) -> list[View]:
    """The live views whose tables hold another version than this code builds."""
    recorded = Versions(engine).read()
    return [view for view in views if _live_version(recorded, view.name) != view.schema_version]


def _live_version(recorded: dict[str, Any], name: str) -> str | None:
    entry = recorded.get(name)
    return entry.live if entry is not None else None


def schema_versions() -> dict[str, str]:
    """The version of each view this code builds, by name (without touching a database)."""
    metadata = sa.MetaData()
    return {
        RoomDetails.name: fingerprint(RoomDetails.revision, room_details_tables(metadata, ""), ""),
        CreditBalances.name: fingerprint(CreditBalances.revision, credit_balances_tables(metadata, ""), ""),
        PendingDeadlines.name: fingerprint(
            PendingDeadlines.revision, pending_deadlines_tables(metadata, ""), ""
        ),
    }


def drop_views(engine: sa.Engine, views: Sequence[View]) -> None:
    """Drop the views' tables and tracking rows (used for scratch views only)."""
    with engine.begin() as conn:
        for view in views:
            for table in reversed(view.tables):
                table.drop(conn, checkfirst=True)
            view.view.drop(conn)

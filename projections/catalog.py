"""The catalogue of views: build every view (or the named ones) under a table-name prefix.

The live views use the empty prefix; ``verify`` builds the same views under a scratch
prefix. Building creates missing tables and tracking rows; it never deletes anything.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

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
    create_tables(engine, metadata)
    for view in views:
        view.view.ensure_row()
    return views


def drop_views(engine: sa.Engine, views: Sequence[View]) -> None:
    """Drop the views' tables and tracking rows (used for scratch views only)."""
    with engine.begin() as conn:
        for view in views:
            for table in reversed(view.tables):
                table.drop(conn, checkfirst=True)
            view.view.drop(conn)

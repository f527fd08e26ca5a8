"""Verify: rebuild every view into scratch tables and diff them with the live views.

The scratch views are rebuilt up to each live view's own position, then the live rows are
read between two reads of that position; if a runner moved it meanwhile, the scratch view
catches up and the comparison is repeated. Scratch tables are dropped afterwards. It never
writes a live view.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from commands.storage import PoolBudget
from projections.catalog import VIEW_NAMES, build_views, drop_views, outdated
from projections.collector import collecting_rarely
from projections.database import create_read_engine
from projections.rebuild import RebuildFailed
from projections.runner import ProjectionsRunner
from projections.upgrade import upgrade_views
from projections.view import View

MAX_ATTEMPTS = 20
MAX_LINES_PER_TABLE = 20


def verify_views(
    database_url: str,
    names: Sequence[str] | None = None,
    pools: PoolBudget | None = None,
    wait_for_head: float = 10.0,
) -> list[str]:
    """Human-readable differences between the live views and a rebuild (empty = identical).

    Each live view must have reached the head of the log as it was when verification began
    (a running projector gets ``wait_for_head`` seconds to get there): a view that is behind,
    above all one stalled on an event it cannot apply, is a difference.
    """
    not_upgraded = _upgrade(database_url, names, pools)
    names = [name for name in names or VIEW_NAMES if name not in not_upgraded]
    if not names:
        return list(not_upgraded.values())
    prefix = f"scratch_{uuid.uuid4().hex[:8]}_"
    live = ProjectionsRunner(database_url, names=names, pools=pools)
    scratch = ProjectionsRunner(database_url, names=names, prefix=prefix, batch_size=10_000, pools=pools)
    for view in scratch.views:
        view.bulk = True  # its tables were just created under a fresh prefix
    try:
        head = live.log.head()
        deadline = time.monotonic() + wait_for_head  # one wait for all the views together
        differences: list[str] = list(not_upgraded.values())
        for live_view, scratch_view in zip(live.views, scratch.views, strict=True):
            differences += _against_head(live_view, head, deadline)
            differences += _compare_view(live.engine, live_view, scratch, scratch_view)
            stall = scratch.stalled.get(scratch_view.name)
            if stall is not None:
                differences.append(
                    f"{live_view.name}: a rebuild from the events also stops at event "
                    f"{stall.notification_id} ({stall.event_type}): {stall.error}"
                )
        return differences
    finally:
        drop_views(scratch.engine, scratch.views)
        scratch.close()
        live.close()


def _upgrade(database_url: str, names: Sequence[str] | None, pools: PoolBudget | None) -> dict[str, str]:
    """Rebuild first the views an earlier release wrote (blue/green, as a projector would);
    return those still in another version, each with why."""
    try:
        upgrade_views(database_url, names, pools=pools)
        return {}
    except RebuildFailed as error:
        engine = create_read_engine(database_url, pools)
        try:
            left = outdated(engine, build_views(engine, "", names))
        finally:
            engine.dispose()
        return {
            view.name: f"{view.name}: its tables hold an older version; rebuilding failed: {error}"
            for view in left
        }


def _compare_view(engine: sa.Engine, live: View, scratch: ProjectionsRunner, rebuilt: View) -> list[str]:
    for _ in range(MAX_ATTEMPTS):
        position = live.view.position()
        if rebuilt.view.position() > position:  # the live view was reset by a rebuild
            with engine.begin() as conn:
                rebuilt.clear(conn)
        _catch_up_one(scratch, rebuilt, position)
        live_rows = _rows(engine, live.tables)
        if live.view.position() != position:
            continue  # a runner committed meanwhile; compare again at the new position
        rebuilt_rows = _rows(engine, rebuilt.tables)
        return _diff(live.name, live.tables, live_rows, rebuilt_rows, position)
    return [f"{live.name}: kept moving under verification; stop the runner or try again"]


def _against_head(live: View, head: int, deadline: float) -> list[str]:
    stall = live.view.stall()
    while stall is None and live.view.position() < head and time.monotonic() < deadline:
        time.sleep(0.1)
        stall = live.view.stall()
    position = live.view.position()
    lines = []
    if stall is not None:
        lines.append(
            f"{live.name}: stalled at position {stall.position}: cannot apply event "
            f"{stall.notification_id} ({stall.event_type}): {stall.error}"
        )
    if position < head:
        lines.append(
            f"{live.name}: at position {position}, {head - position} behind the head of the log ({head})"
            + ("" if stall is not None else "; is booking project running?")
        )
    return lines


def _catch_up_one(runner: ProjectionsRunner, view: View, position: int) -> None:
    others = [v for v in runner.views if v is not view]
    runner.views = [view]
    try:
        with collecting_rarely():
            runner.catch_up(stop_at=position)
    finally:
        runner.views = [view, *others]


def _rows(engine: sa.Engine, tables: Iterable[sa.Table]) -> list[set[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return [{tuple(_plain(v) for v in row) for row in conn.execute(sa.select(t))} for t in tables]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def _diff(
    name: str,
    tables: Sequence[sa.Table],
    live_rows: list[set[tuple[Any, ...]]],
    rebuilt_rows: list[set[tuple[Any, ...]]],
    position: int,
) -> list[str]:
    lines: list[str] = []
    for table, live, rebuilt in zip(tables, live_rows, rebuilt_rows, strict=True):
        label = table.name
        columns = [c.name for c in table.columns]
        only_live = sorted(live - rebuilt, key=repr)
        only_rebuilt = sorted(rebuilt - live, key=repr)
        for kind, rows in (("only in the live view", only_live), ("only in the rebuild", only_rebuilt)):
            for row in rows[:MAX_LINES_PER_TABLE]:
                lines.append(f"{name} at {position}: {label}: {kind}: {dict(zip(columns, row, strict=True))}")
            if len(rows) > MAX_LINES_PER_TABLE:
                lines.append(f"{name}: {label}: … and {len(rows) - MAX_LINES_PER_TABLE} more {kind}")
    return lines


__all__ = ["VIEW_NAMES", "verify_views"]

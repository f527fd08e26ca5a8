"""Blue/green rebuild: build a view's new version beside the live tables, then switch at once.

When this code builds another version of a view than its live tables hold (a release changed
the tables or the handlers, or the tables predate recorded versions), one process takes the
rebuild lock and replays the events into tables of the same shape under a fresh prefix, while
the live tables keep answering reads. Once the new tables have caught up with the head, one
transaction drops the old tables, renames the new ones into their place, carries the new
position over to the live tracking row and records the version. Readers therefore see the old
view or the new one, never a half-built one. A rebuild that fails (a view that cannot apply an
event, a crash) leaves the old tables in place; the next attempt starts again from the events.
Other processes wait (the API keeps serving the old tables, runners leave the view alone) and
take the new tables up when ``view_versions`` says they are live.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa

from commands.storage import PoolBudget
from migrations.lock import SCHEMA, advisory_lock
from projections.catalog import VIEW_NAMES, build_views, outdated
from projections.database import create_read_engine
from projections.rebuild import RebuildFailed, rebuild_views
from projections.runner import ProjectionsRunner
from projections.tables import STALLS_TABLE, TRACKING_TABLE
from projections.tracking import Stall
from projections.versions import Versions
from projections.view import View

log = logging.getLogger("booking.projections")

REBUILD = "booking:views:rebuild"
"""Held for a whole blue/green rebuild: one process rebuilds, the others keep serving."""


def upgrade_views(
    database_url: str,
    names: Sequence[str] | None = None,
    *,
    force: bool = False,
    wait: float = 3600.0,
    pools: PoolBudget | None = None,
    processes: int | None = None,
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Rebuild blue/green the named views (all by default) whose live version is not this code's
    (every named one with ``force``) and return the names switched in. Waits up to ``wait``
    seconds for another process's rebuild (``LockBusy`` after that); a view that cannot apply an
    event fails the rebuild (``RebuildFailed``) and leaves its live tables as they were."""
    engine = create_read_engine(database_url, pools)
    try:
        with advisory_lock(engine, REBUILD, wait=wait > 0, timeout=wait):
            views = build_views(engine, "", names)
            targets = list(views) if force else outdated(engine, views)
            if not targets:
                return []
            prefix = f"n{secrets.token_hex(4)}_"
            _start_build(engine, targets, prefix)
            stalled: dict[str, Stall] = {}
            switched: list[View] = []
            try:
                stalled = _build(database_url, targets, prefix, pools, processes, on_start, on_progress)
                rebuilt = [view for view in targets if view.name not in stalled]
                if rebuilt:
                    _switch(engine, rebuilt, prefix)
                    switched = rebuilt
                    log.info("views %s switched to their new tables", ", ".join(v.name for v in rebuilt))
            finally:
                _abandon(engine, [view for view in targets if view not in switched], prefix)
            if stalled:
                raise RebuildFailed(
                    "; ".join(
                        f"{name} stops at event {stall.notification_id} ({stall.event_type}): {stall.error}; "
                        "its live tables are as they were"
                        for name, stall in stalled.items()
                    )
                )
            return [view.name for view in switched]
    finally:
        engine.dispose()


def _start_build(engine: sa.Engine, targets: Sequence[View], prefix: str) -> None:
    """Drop what an interrupted build left, and record the build that starts now."""
    versions = Versions(engine)
    with advisory_lock(engine, SCHEMA), engine.begin() as conn:
        recorded = versions.read(conn)
        for view in targets:
            stale = recorded.get(view.name)
            if stale is not None and stale.prefix:
                _drop_prefixed(conn, stale.prefix)
            versions.record_building(conn, view.name, view.schema_version, prefix)


def _build(
    database_url: str,
    targets: Sequence[View],
    prefix: str,
    pools: PoolBudget | None,
    processes: int | None,
    on_start: Callable[[int], None] | None,
    on_progress: Callable[[int], None] | None,
) -> dict[str, Stall]:
    """Replay the events into the new tables, then follow the head until the last catch-up
    found nothing more (what commits after it, the live runner applies after the switch).
    Returns the views that cannot apply an event, each with its stall."""
    names = [view.name for view in targets]
    stalled: dict[str, Stall] = {}
    rebuild_views(
        database_url,
        names,
        prefix=prefix,
        pools=pools,
        processes=processes,
        on_start=on_start,
        on_progress=on_progress,
        stalled=stalled,
    )
    following = [name for name in names if name not in stalled]
    if not following:
        return stalled
    runner = ProjectionsRunner(database_url, names=following, prefix=prefix, pools=pools)
    try:
        for _ in range(10):
            if not runner.catch_up():
                break
        stalled.update(runner.stalled)
    finally:
        runner.close()
    return stalled


def _switch(engine: sa.Engine, targets: Sequence[View], prefix: str) -> None:
    """In one transaction: old tables out, new tables in under the live names, the new position
    on the live tracking row, the new version recorded. The old tables are locked first, all
    together and in the catalogue's order, which is the order a reader takes them in (a room's
    details read the room, its sessions, then the balances): locked one by one as they are
    dropped, a reader holding the first while waiting for another would deadlock with it."""
    versions = Versions(engine)
    tracking, stalls = (
        sa.table(TRACKING_TABLE, sa.column("view_name")),
        sa.table(STALLS_TABLE, sa.column("view_name")),
    )
    targets = sorted(targets, key=lambda view: VIEW_NAMES.index(view.name))
    with advisory_lock(engine, SCHEMA), _ddl_transaction(engine) as conn:
        existing = set(sa.inspect(conn).get_table_names())
        old = [table.name for view in targets for table in view.tables if table.name in existing]
        if old and conn.dialect.name == "postgresql":  # all at once, in the order readers take them
            conn.execute(
                sa.text(f"LOCK TABLE {', '.join(_quoted(conn, n) for n in old)} IN ACCESS EXCLUSIVE MODE")
            )
        for view in targets:
            for table in view.tables:
                if table.name in existing:
                    conn.execute(sa.text(f"DROP TABLE {_quoted(conn, table.name)}"))
                built, live = _quoted(conn, prefix + table.name), _quoted(conn, table.name)
                conn.execute(sa.text(f"ALTER TABLE {built} RENAME TO {live}"))
            conn.execute(sa.delete(tracking).where(tracking.c.view_name == view.name))
            conn.execute(
                sa.update(tracking)
                .where(tracking.c.view_name == prefix + view.name)
                .values(view_name=view.name)
            )
            conn.execute(sa.delete(stalls).where(stalls.c.view_name.in_([view.name, prefix + view.name])))
            versions.record_live(conn, view.name, view.schema_version)


def _abandon(engine: sa.Engine, targets: Sequence[View], prefix: str) -> None:
    """After a build: drop whatever of it was not switched in (the tables of ``targets``, views
    that failed) and record that nothing is being built for them; their live tables stay."""
    if not targets:
        return
    try:
        versions = Versions(engine)
        with advisory_lock(engine, SCHEMA), engine.begin() as conn:
            _drop_prefixed(conn, prefix)
            for view in targets:
                versions.record_building(conn, view.name, None, None)
    except Exception:
        log.exception("could not clean up the abandoned build %s (the next rebuild drops it)", prefix)


def _drop_prefixed(conn: sa.Connection, prefix: str) -> None:
    tracking = sa.table(TRACKING_TABLE, sa.column("view_name"))
    stalls = sa.table(STALLS_TABLE, sa.column("view_name"))
    for name in sa.inspect(conn).get_table_names():
        if name.startswith(prefix):
            conn.execute(sa.text(f"DROP TABLE {_quoted(conn, name)}"))
    conn.execute(sa.delete(tracking).where(tracking.c.view_name.startswith(prefix, autoescape=True)))
    conn.execute(sa.delete(stalls).where(stalls.c.view_name.startswith(prefix, autoescape=True)))


def _quoted(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


@contextmanager
def _ddl_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that covers DDL too. PostgreSQL's do; Python's sqlite3 module commits before
    DDL on its own, so on SQLite the transaction is opened and closed by hand."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        dbapi = conn.connection.driver_connection
        before = dbapi.isolation_level  # type: ignore[union-attr]
        dbapi.isolation_level = None  # type: ignore[union-attr]
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise
            conn.exec_driver_sql("COMMIT")
        finally:
            dbapi.isolation_level = before  # type: ignore[union-attr]

"""Rebuild views from the events: clear the view and its position, then replay everything.

The clear and the position reset commit together, so a runner following the same view
simply finds its position moved and continues from the new one; rows are never applied
twice. While a rebuild runs the view is incomplete (readers see it fill up).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from commands.storage import PoolBudget
from projections.collector import collecting_rarely
from projections.runner import ProjectionsRunner
from projections.tracking import Stall


def rebuild_views(
    database_url: str,
    names: Sequence[str] | None = None,
    *,
    prefix: str = "",
    on_start: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    batch_size: int = 10_000,
    pools: PoolBudget | None = None,
    stalled: dict[str, Stall] | None = None,
) -> int:
    """Rebuild the named views (all by default) and return the events replayed.

    A view that cannot apply an event stops there (the others go on); ``stalled`` receives
    each such view's stall."""
    runner = ProjectionsRunner(database_url, names=names, prefix=prefix, batch_size=batch_size, pools=pools)
    try:
        with runner.engine.begin() as conn:
            for view in runner.views:
                view.clear(conn)
                view.bulk = True  # its tables are empty from here on, and only this rebuild fills them
        head = runner.log.head()
        if on_start is not None:
            on_start(head)
        with collecting_rarely():
            replayed = runner.catch_up(stop_at=head, on_progress=on_progress)
        if stalled is not None:
            stalled.update(runner.stalled)
        return replayed
    finally:
        runner.close()

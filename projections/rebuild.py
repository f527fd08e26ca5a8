"""Rebuild views from the events: clear the view and its position, then replay everything.

The clear and the position reset commit together, so a runner following the same view
simply finds its position moved and continues from the new one; rows are never applied
twice. While a rebuild runs the view is incomplete (readers see it fill up).

A replay is CPU-bound in one Python process (decoding events, building rows), so on
PostgreSQL the views are replayed by one forked process per ``REPLAY_GROUPS`` group, at most
one per core: each process reads only the events its views apply, and views that apply the
same events share a process, so that no event is decoded twice. SQLite takes one writer at a
time, so there a single process replays every view.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import sys
from collections.abc import Callable, Sequence
from typing import Any

from commands.storage import PoolBudget
from projections.catalog import REPLAY_GROUPS, VIEW_NAMES
from projections.collector import collecting_rarely
from projections.runner import ProjectionsRunner
from projections.tracking import Stall

log = logging.getLogger("booking.projections")


class RebuildFailed(RuntimeError):
    """A process replaying some of the views failed; the message says which and why."""


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
    processes: int | None = None,
) -> int:
    """Rebuild the named views (all by default) and return how far they were replayed (the
    head of the log when the rebuild started, in notification ids).

    ``processes``: at most this many replaying processes (by default one per core on
    PostgreSQL, one on SQLite). A view that cannot apply an event stops there (the others go
    on); ``stalled`` receives each such view's stall."""
    runner = ProjectionsRunner(database_url, names=names, prefix=prefix, batch_size=batch_size, pools=pools)
    try:
        with runner.engine.begin() as conn:
            for view in runner.views:
                view.clear(conn)
        head = runner.log.head()
        groups = replay_groups([view.name for view in runner.views], _processes(runner, processes))
        if on_start is not None:
            on_start(head)
        if len(groups) == 1:
            replayed, stalls = _replay(runner, head, on_progress)
    finally:
        runner.close()
    if len(groups) > 1:  # after closing this runner: its connections are not the children's to share
        replayed, stalls = _replay_forked(database_url, groups, head, prefix, batch_size, pools, on_progress)
    if stalled is not None:
        stalled.update(stalls)
    return replayed


def replay_groups(names: Sequence[str], processes: int) -> list[list[str]]:
    """The views in at most ``processes`` groups, each replayed by one process."""
    groups = [[name for name in group if name in names] for group in REPLAY_GROUPS]
    groups = [group for group in groups if group]
    if processes <= 1 or len(groups) <= 1:
        return [[name for name in VIEW_NAMES if name in names]]
    while len(groups) > processes:
        smallest = groups.pop()
        groups[-1] += smallest
    return groups


def _processes(runner: ProjectionsRunner, requested: int | None) -> int:
    if runner.engine.dialect.name != "postgresql" or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return requested if requested is not None else os.cpu_count() or 1


def _replay(
    runner: ProjectionsRunner, head: int, on_progress: Callable[[int], None] | None
) -> tuple[int, dict[str, Stall]]:
    """Replay the runner's cleared views up to ``head``, in this process."""
    for view in runner.views:
        view.bulk = True  # its tables are empty from here on, and only this rebuild fills them
    with collecting_rarely():
        replayed = runner.catch_up(stop_at=head, on_progress=on_progress)
    return replayed, dict(runner.stalled)


def _replay_forked(
    database_url: str,
    groups: Sequence[Sequence[str]],
    head: int,
    prefix: str,
    batch_size: int,
    pools: PoolBudget | None,
    on_progress: Callable[[int], None] | None,
) -> tuple[int, dict[str, Stall]]:
    """Replay each group of views in a forked process of its own; report the progress of the
    group that is furthest behind."""
    context = multiprocessing.get_context("fork")
    messages: multiprocessing.Queue[tuple[Any, ...]] = context.Queue()
    children = [
        context.Process(
            target=_replay_group,
            args=(index, database_url, list(group), head, prefix, batch_size, pools, messages),
            name=f"rebuild {'+'.join(group)}",
            daemon=True,
        )
        for index, group in enumerate(groups)
    ]
    progress, reported = [0] * len(groups), 0
    results: dict[int, tuple[int, dict[str, Stall]]] = {}
    try:
        for child in children:
            child.start()
        while len(results) < len(children):
            try:
                message = messages.get(timeout=0.5)
            except queue.Empty:
                _check_alive(children, results, messages)
                continue
            kind, index, *rest = message
            if kind == "progress":
                progress[index] += rest[0]
                if min(progress) > reported:
                    if on_progress is not None:
                        on_progress(min(progress) - reported)
                    reported = min(progress)
            elif kind == "done":
                results[index] = (rest[0], rest[1])
            else:
                raise RebuildFailed(f"replaying {'+'.join(groups[index])} failed: {rest[0]}")
    finally:
        for child in children:
            if child.pid is None:
                continue  # never started (starting an earlier one failed)
            if child.is_alive() and len(results) < len(children):
                child.terminate()
            child.join()
    stalls: dict[str, Stall] = {}
    for _, group_stalls in results.values():
        stalls.update(group_stalls)
    return min(replayed for replayed, _ in results.values()), stalls


def _check_alive(
    children: Sequence[multiprocessing.process.BaseProcess],
    results: dict[int, tuple[int, dict[str, Stall]]],
    messages: multiprocessing.Queue[tuple[Any, ...]],
) -> None:
    """Raise if a child ended without a word (killed, say)."""
    for index, child in enumerate(children):
        if index not in results and not child.is_alive() and messages.empty():
            raise RebuildFailed(f"the process {child.name} ended with exit code {child.exitcode}")


def _replay_group(
    index: int,
    database_url: str,
    names: list[str],
    head: int,
    prefix: str,
    batch_size: int,
    pools: PoolBudget | None,
    messages: multiprocessing.Queue[tuple[Any, ...]],
) -> None:
    """In a forked process: replay the views ``names`` (cleared by the parent) up to ``head``."""
    try:
        runner = ProjectionsRunner(
            database_url, names=names, prefix=prefix, batch_size=batch_size, pools=pools
        )
        try:
            replayed, stalls = _replay(
                runner, head, lambda advanced: messages.put(("progress", index, advanced))
            )
        finally:
            runner.close()
        messages.put(("done", index, replayed, stalls))
    except BaseException as error:
        log.exception("replaying %s failed", "+".join(names))
        messages.put(("failed", index, f"{type(error).__name__}: {error}"))
        sys.exit(1)

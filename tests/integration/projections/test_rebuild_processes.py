"""A rebuild on PostgreSQL replays its views in forked processes, one per group of views that
apply the same events: the rows equal a replay in one process, the progress reported is the
slowest group's, and a replaying process that dies makes the rebuild fail, never succeed half
done."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator

import pytest

from commands.clock import SystemClock
from commands.service import BookingService
from commands.storage import event_store_env
from projections.rebuild import RebuildFailed, rebuild_views
from projections.verify import verify_views
from tests.integration.projections.history import record_history
from tests.views import catch_up_views

pytestmark = pytest.mark.postgres


@pytest.fixture
def recorded(postgres_url: str) -> Iterator[int]:
    """A history of 40 members' stories; the head of the log."""
    app = BookingService(SystemClock(), env=event_store_env(postgres_url))
    try:
        yield record_history(app, 40, members_per_save=10)
    finally:
        app.close()


def test_views_replayed_by_two_processes_equal_the_views_followed_event_by_event(
    postgres_url: str, recorded: int
) -> None:
    catch_up_views(postgres_url)
    started: list[int] = []
    progress: list[int] = []

    replayed = rebuild_views(
        postgres_url, processes=2, batch_size=50, on_start=started.append, on_progress=progress.append
    )

    assert replayed == recorded and started == [recorded]
    assert sum(progress) == recorded and len(progress) > 1  # the slowest group's steps
    assert verify_views(postgres_url) == []  # equal to views replayed by this process


def test_a_replaying_process_that_dies_makes_the_rebuild_fail(postgres_url: str, recorded: int) -> None:
    def kill_the_replaying_processes(_: int) -> None:
        for child in multiprocessing.active_children():
            if child.name.startswith("rebuild ") and child.pid is not None:
                os.kill(child.pid, signal.SIGKILL)

    with pytest.raises(RebuildFailed, match="ended with exit code -9"):
        rebuild_views(postgres_url, processes=2, batch_size=2, on_progress=kill_the_replaying_processes)

    assert rebuild_views(postgres_url, processes=2) == recorded  # nothing left behind stops the next one
    assert verify_views(postgres_url) == []

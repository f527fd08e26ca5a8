"""Exactly once: a runner killed mid catch-up resumes without double counts or gaps, and two
runners racing over the same views never both apply an event."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from commands.service import BookingService
from projections.database import create_read_engine
from projections.queries import ReadModels
from projections.runner import ProjectionsRunner
from projections.verify import verify_views
from tests.integration.projections.history import EVENTS_PER_MEMBER, record_history
from tests.polling import wait_until

ROOT = Path(__file__).resolve().parents[3]


def start_projecting(database_url: str, batch_size: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BOOKING_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "entrypoints", "project", "--batch-size", str(batch_size)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_a_runner_killed_mid_catch_up_resumes_to_exactly_a_clean_rebuild(
    database_url: str, service: BookingService
) -> None:
    members = 1700
    head = record_history(service, members)
    assert head >= 20_000
    views = ReadModels(create_read_engine(database_url))

    first = start_projecting(database_url, batch_size=50)
    try:
        wait_until(lambda: min(views.positions().values()) >= 2_000, 120, "the first runner to make progress")
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    finally:
        first.kill()
    at_kill = views.positions()
    assert min(at_kill.values()) > 0 and max(at_kill.values()) < head, "the kill must land mid catch-up"

    second = start_projecting(database_url, batch_size=500)
    try:
        wait_until(lambda: min(views.positions().values()) == head, 300, "the restarted runner to catch up")
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, second.stderr.read().decode() if second.stderr else ""
    finally:
        second.kill()

    assert verify_views(database_url) == []
    totals = [views.credit_balances(f"member-{n}") for n in (0, 1, members - 1)]
    assert [(t["available"], t["held"]) for t in totals if t] == [(2, 0)] * 3


@pytest.mark.slow
def test_two_runners_racing_over_the_same_views_never_both_apply_an_event(
    database_url: str, service: BookingService
) -> None:
    head = record_history(service, 400)
    applied: dict[str, list[tuple[int, int, int]]] = {}
    lock = threading.Lock()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def race(runner_number: int) -> None:
        try:
            runner = ProjectionsRunner(database_url, batch_size=25)
        except BaseException as error:
            errors.append(error)
            start.abort()
            return
        for view in runner.views:
            view.apply_batch = recording(view.apply_batch, view.name, runner_number)  # type: ignore[method-assign]
        try:
            start.wait()
            runner.catch_up()
        except BaseException as error:
            errors.append(error)
        finally:
            runner.close()

    committed = {1: threading.Event(), 2: threading.Event()}

    def recording(apply: Callable[..., None], name: str, runner_number: int) -> Callable[..., None]:
        def apply_and_record(expected: int, last: int, events: Any) -> None:
            apply(expected, last, events)  # raises PositionMoved (rolled back) when it lost the race
            with lock:
                applied.setdefault(name, []).append((expected, last, runner_number))
            first_commit = not committed[runner_number].is_set()
            committed[runner_number].set()
            if first_commit:
                # On a loaded machine one thread could otherwise finish before the other gets
                # a turn; holding the first winner (no transaction open) until the other runner
                # has also won a batch makes both of them race over the same positions.
                committed[3 - runner_number].wait(60)

        return apply_and_record

    threads = [threading.Thread(target=race, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert errors == []

    for name, batches in applied.items():
        ranges = sorted(batches)
        assert ranges[0][0] == 0 and ranges[-1][1] == head, name
        for (_, last, _), (expected, _, _) in itertools.pairwise(ranges):
            assert expected == last, f"{name}: committed batches overlap or leave a gap"
    assert set(applied) == {"room_details", "credit_balances", "pending_deadlines"}
    assert {runner for batches in applied.values() for *_, runner in batches} == {1, 2}, "both must race"
    assert verify_views(database_url) == []
    assert head == 400 * EVENTS_PER_MEMBER

"""The scheduler as real processes on PostgreSQL, beside ``booking project``: bookings expire and
become no-shows by themselves, and each deadline event is recorded exactly once, with two
schedulers at once and across a ``kill -9``."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.booking import EXPIRED, NO_SHOW
from tests.integration.scheduler.deployment import SESSION_END, Deployment
from tests.polling import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SLACK = 120.0  # real seconds allowed beyond a due instant before a test gives up (a loaded machine)


@pytest.fixture
def deployment(postgres_url: str, tmp_path: Path) -> Iterator[Deployment]:
    deployment = Deployment(postgres_url, tmp_path)
    try:
        yield deployment
    finally:
        deployment.close()


def expected_events(unconfirmed: list[str], confirmed: list[str]) -> dict[tuple[str, str], int]:
    expected = {(b, "FreeCancellationClosed"): 1 for b in unconfirmed + confirmed}
    expected.update({(b, "ConfirmationExpired"): 1 for b in unconfirmed})
    expected.update({(b, "NoShowRecorded"): 1 for b in confirmed})
    expected.update({(b, "SessionReminderDue"): 1 for b in confirmed})
    return expected


def test_a_booking_left_unconfirmed_expires_by_itself_and_its_credit_returns(
    deployment: Deployment,
) -> None:
    deployment.project()
    scheduler = deployment.schedule()
    start = deployment.next_start()
    booking_id = deployment.book(start)

    wait_until(
        lambda: deployment.status(booking_id) == EXPIRED,
        deployment.seconds_until(start) + SLACK,
        "the unconfirmed booking to expire",
    )
    assert deployment.balance(booking_id) == {"available": 1, "held": 0, "consumed": 0, "forfeited": 0}
    assert deployment.deadline_events() == {
        (booking_id, "FreeCancellationClosed"): 1,
        (booking_id, "ConfirmationExpired"): 1,
    }
    assert deployment.terminate(scheduler) == 0  # SIGTERM stops it cleanly
    messages = [line["message"] for line in deployment.log_lines(scheduler)]
    assert "deadline scheduler stopped" in messages
    assert any(line["message"] == "health" and "pending" in line for line in deployment.log_lines(scheduler))


def test_a_confirmed_session_nobody_joins_becomes_a_no_show_and_forfeits_its_credit(
    deployment: Deployment,
) -> None:
    deployment.project()
    deployment.schedule()
    start = deployment.next_start()
    booking_id = deployment.book(start, confirm=True)

    wait_until(
        lambda: deployment.status(booking_id) == NO_SHOW,
        deployment.seconds_until(start + SESSION_END) + SLACK,
        "the session to become a no-show",
    )
    booking = deployment.service.get_booking(booking_id)
    assert booking.absent_party == "member"
    assert deployment.balance(booking_id) == {"available": 0, "held": 0, "consumed": 0, "forfeited": 1}
    assert deployment.deadline_events() == {
        (booking_id, "FreeCancellationClosed"): 1,
        (booking_id, "SessionReminderDue"): 1,
        (booking_id, "NoShowRecorded"): 1,
    }


def test_two_scheduler_processes_record_each_deadline_event_exactly_once(deployment: Deployment) -> None:
    deployment.project()
    first, second = deployment.schedule(), deployment.schedule()
    start = deployment.next_start()
    unconfirmed = [deployment.book(start) for _ in range(6)]
    confirmed = [deployment.book(start, confirm=True) for _ in range(6)]  # all due at the same instants
    expected = expected_events(unconfirmed, confirmed)

    wait_until(
        lambda: all(deployment.status(b) == NO_SHOW for b in confirmed),
        deployment.seconds_until(start + SESSION_END) + SLACK,
        "every confirmed session to end",
    )
    wait_until(lambda: len(deployment.deadline_events()) == len(expected), SLACK, "every deadline event")
    assert deployment.deadline_events() == expected
    assert {deployment.status(b) for b in unconfirmed} == {EXPIRED}
    assert first.poll() is None and second.poll() is None  # both ran throughout
    recorded = [
        line
        for process in (first, second)
        for line in deployment.log_lines(process)
        if line["message"].startswith("recorded ")
    ]
    assert len(recorded) == len(expected)  # each event was recorded by one of them, once


def test_a_scheduler_killed_while_deadlines_fall_due_loses_none_and_doubles_none_after_restart(
    deployment: Deployment,
) -> None:
    deployment.project()
    scheduler = deployment.schedule("--workers", "1")
    start = deployment.next_start()
    unconfirmed = [deployment.book(start) for _ in range(10)]
    confirmed = [deployment.book(start, confirm=True) for _ in range(10)]
    expected = expected_events(unconfirmed, confirmed)

    wait_until(
        lambda: len(deployment.deadline_events()) > 0,
        deployment.seconds_until(start) + SLACK,
        "the free-cancellation closes to start falling due",
    )
    scheduler.send_signal(signal.SIGKILL)
    assert scheduler.wait(10) == -signal.SIGKILL
    at_kill = deployment.deadline_events()
    assert all(kind == "FreeCancellationClosed" for _, kind in at_kill)  # the rest fall due later
    wait_until(
        lambda: deployment.seconds_until(start) == 0, SLACK, "the confirmation deadlines to pass while down"
    )

    deployment.schedule()
    wait_until(
        lambda: len(deployment.deadline_events()) == len(expected),
        deployment.seconds_until(start + SESSION_END) + SLACK,
        "every deadline event after the restart",
    )
    assert deployment.deadline_events() == expected
    assert {deployment.status(b) for b in unconfirmed} == {EXPIRED}
    assert {deployment.status(b) for b in confirmed} == {NO_SHOW}

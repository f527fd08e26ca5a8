"""The scheduler as real processes on PostgreSQL, beside ``booking project``: bookings expire and
become no-shows by themselves, and each deadline event is recorded exactly once, with two
schedulers at once (which split the deadlines between them), across a ``kill -9`` and a
restart, and when one of two is killed (the other takes over its share)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.booking import CONFIRMATION, EXPIRED, FREE_CANCELLATION, NO_SHOW
from scheduler.share import owner
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


def expected_events(
    unconfirmed: list[str], confirmed: list[str], reminded: bool = True
) -> dict[tuple[str, str], int]:
    """``reminded``: the scheduler ran between each reminder's due instant and the start (a
    reminder is never recorded once its session has started)."""
    expected = {(b, "FreeCancellationClosed"): 1 for b in unconfirmed + confirmed}
    expected.update({(b, "ConfirmationExpired"): 1 for b in unconfirmed})
    expected.update({(b, "NoShowRecorded"): 1 for b in confirmed})
    if reminded:
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
    wait_until(
        lambda: deployment.live_schedulers(first) == deployment.live_schedulers(second) == 2,
        SLACK,
        "the two schedulers to see each other's heartbeat",
    )
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
    ids = [deployment.scheduler_id(first), deployment.scheduler_id(second)]
    shares = {i: sum(n for (b, _), n in expected.items() if owner(b, ids) == i) for i in ids}
    wait_until(
        lambda: all(deployment.fires().get(i, 0) >= shares[i] for i in ids), SLACK, "the last heartbeats"
    )
    # Each fired its own share, and (but for a heartbeat held up by a loaded machine, which
    # makes one take the other for dead a moment) nothing else: not every deadline each.
    assert sum(deployment.fires().values()) < 1.5 * len(expected)


def test_the_share_of_a_killed_scheduler_process_is_taken_over_by_the_other(deployment: Deployment) -> None:
    deployment.project()
    schedulers = [deployment.schedule(), deployment.schedule()]  # beating every 0.5 s
    wait_until(
        lambda: [deployment.live_schedulers(s) for s in schedulers] == [2, 2],
        SLACK,
        "the two schedulers to see each other's heartbeat",
    )
    start = deployment.next_start()
    bookings = [deployment.book(start) for _ in range(12)]
    ids = [deployment.scheduler_id(s) for s in schedulers]
    shares = [{b for b in bookings if owner(b, ids) == i} for i in ids]
    doomed = 0 if len(shares[0]) >= len(shares[1]) else 1  # the one with at least half the bookings
    victim, survivor, victims = schedulers[doomed], schedulers[1 - doomed], shares[doomed]

    wait_until(  # the closes fall due 3 s (real) before the expiries
        lambda: len(deployment.deadline_events()) == len(bookings),
        deployment.seconds_until(start) + SLACK,
        "every free-cancellation close",
    )
    assert deployment.recorded_by(victim, FREE_CANCELLATION) & victims  # it did (some of) its share
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(10) == -signal.SIGKILL
    left_by_victim = victims - deployment.recorded_by(victim, CONFIRMATION)
    assert left_by_victim  # it was killed before the expiries fell due

    wait_until(
        lambda: len(deployment.deadline_events()) == 2 * len(bookings),
        deployment.seconds_until(start) + SLACK,
        "every confirmation expiry",
    )
    assert deployment.deadline_events() == expected_events(bookings, [])  # each once
    assert deployment.recorded_by(survivor, CONFIRMATION) >= left_by_victim  # taken over
    assert deployment.live_schedulers(survivor) == 1
    assert {deployment.status(b) for b in bookings} == {EXPIRED}


def test_a_scheduler_killed_while_deadlines_fall_due_loses_none_and_doubles_none_after_restart(
    deployment: Deployment,
) -> None:
    deployment.project()
    scheduler = deployment.schedule("--workers", "1")
    start = deployment.next_start()
    unconfirmed = [deployment.book(start) for _ in range(10)]
    confirmed = [deployment.book(start, confirm=True) for _ in range(10)]
    # Back only after the start: the reminders that fell due while it was down are never sent.
    expected = expected_events(unconfirmed, confirmed, reminded=False)

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

"""Health reports pending deadlines, the oldest overdue one and the last fire; errors are
logged and retried, never stopping the loop."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.booking import EXPIRED
from projections.deadlines import PendingDeadline
from scheduler.process import DeadlineScheduler
from tests.polling import wait_until
from tests.unit.scheduler.support import START, Office, running, settled

CONFIRM_BY = START - timedelta(hours=24)


def test_health_counts_pending_deadlines_and_names_the_oldest_overdue_one() -> None:
    office = Office()
    first = office.book()
    office.book(start=START + timedelta(hours=1))
    scheduler = office.scheduler(poll_interval=3600)  # the poller runs once, at start
    office.clock.set(CONFIRM_BY - timedelta(hours=25))
    with running(scheduler):
        wait_until(lambda: scheduler.health()["polls"] == 1)
        office.clock.set(CONFIRM_BY - timedelta(hours=24))  # both free-cancellation closes are due
        health = scheduler.health()
    assert health["pending"] == 4
    assert health["oldest_overdue"] == {
        "booking_id": first,
        "kind": "free_cancellation",
        "due": "2026-03-04T10:00:00Z",
        "overdue_seconds": 0.0,
    }
    assert health["last_fire"] is None
    assert health["running"] is True
    assert scheduler.health()["running"] is False


def test_health_reports_the_last_fire_and_its_lag() -> None:
    office = Office()
    booking_id = office.book()
    scheduler = office.scheduler()
    office.clock.set(CONFIRM_BY + timedelta(seconds=90))
    with running(scheduler):
        health = settled(scheduler)
    assert health["last_fire"]["recorded"] is True  # type: ignore[index]
    assert health["last_fire"]["booking_id"] == booking_id  # type: ignore[index]
    assert health["last_fire"]["lag_seconds"] in (90.0, 86490.0)  # type: ignore[index]
    assert (health["pending"], health["oldest_overdue"], health["recorded"]) == (0, None, 2)


def test_an_unreadable_view_is_retried_without_stopping_the_scheduler() -> None:
    office = Office()
    scheduler = office.scheduler()
    with running(scheduler):
        office.view.failures_to_serve = 3
        booking_id = office.book()
        office.clock.set(CONFIRM_BY)
        wait_until(lambda: office.service.get_booking(booking_id).status == EXPIRED)
    assert office.view.failures_to_serve == 0


def test_a_deadline_of_an_unknown_booking_is_logged_and_the_others_still_fire(
    caplog: pytest.LogCaptureFixture,
) -> None:
    office = Office()
    office.view.add(PendingDeadline("00000000-0000-4000-8000-000000000000", "confirmation", CONFIRM_BY, 1))
    booking_id = office.book()
    scheduler = office.scheduler()
    office.clock.set(CONFIRM_BY)
    with running(scheduler):
        health = settled(scheduler)
    assert office.service.get_booking(booking_id).status == EXPIRED
    assert health["stale"] == 1
    assert "no booking with id" in caplog.text


def test_a_view_unreachable_at_start_up_stops_the_start() -> None:
    office = Office()
    office.view.failures_to_serve = 1
    scheduler = office.scheduler()
    with pytest.raises(ConnectionError):
        scheduler.start()
    assert scheduler.health()["running"] is False


def test_stopping_a_scheduler_stops_its_firing() -> None:
    office = Office()
    booking_id = office.book()
    scheduler = office.scheduler()
    with running(scheduler):
        settled(scheduler)
    office.clock.set(CONFIRM_BY)
    assert scheduler.health()["running"] is False
    assert "ConfirmationExpired" not in office.event_names(booking_id)


@pytest.mark.parametrize("name", ["refresh_interval", "poll_interval", "resync_interval"])
def test_a_non_positive_interval_is_refused_naming_it(name: str) -> None:
    office = Office()
    with pytest.raises(ValueError, match=name):
        DeadlineScheduler(office.service, office.view, office.clock, **{name: 0})  # type: ignore[arg-type]

"""The scheduler fires each deadline kind at its instant by the injected clock, never earlier,
and a deadline made stale by a reschedule or a cancel records nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.booking import CANCELLED, COMPLETED, CONFIRMED, EXPIRED, NO_SHOW, PENDING
from tests.polling import wait_until
from tests.unit.scheduler.support import SECOND, START, Office, running, settled

CONFIRM_BY = START - timedelta(hours=24)
FREE_UNTIL = START - timedelta(hours=48)
SESSION_END_DUE = START + timedelta(minutes=45 + 30)


@pytest.fixture
def office() -> Office:
    return Office()


@pytest.mark.parametrize(
    ("kind", "confirm", "due", "event", "status"),
    [
        ("confirmation", False, CONFIRM_BY, "ConfirmationExpired", EXPIRED),
        ("free_cancellation", True, FREE_UNTIL, "FreeCancellationClosed", CONFIRMED),
        ("session_end", True, SESSION_END_DUE, "NoShowRecorded", NO_SHOW),
    ],
)
def test_each_deadline_kind_fires_at_its_instant_and_not_a_second_before(
    office: Office, kind: str, confirm: bool, due: object, event: str, status: str
) -> None:
    booking_id = office.book(confirm=confirm)
    scheduler = office.scheduler()
    office.clock.set(due - SECOND)  # type: ignore[operator, arg-type]
    with running(scheduler):
        health = settled(scheduler)
        assert event not in office.event_names(booking_id)
        assert health["fired"] == (0 if kind == "free_cancellation" else 1)  # only the earlier close

        office.clock.set(due)  # type: ignore[arg-type]
        wait_until(lambda: event in office.event_names(booking_id), what=f"the {kind} deadline")
        settled(scheduler)

    booking = office.service.get_booking(booking_id)
    assert booking.status == status
    assert office.event_names(booking_id).count(event) == 1
    fired = office.service.repository.event_store.get(booking.id)
    stamps = [e.timestamp for e in fired if type(e).__name__ == event]  # type: ignore[attr-defined]
    assert stamps == [due]


def test_the_session_end_of_a_session_the_member_joined_completes_it_and_consumes_the_credit(
    office: Office,
) -> None:
    booking_id = office.book(confirm=True)
    office.clock.set(START + timedelta(minutes=5))
    office.service.record_member_joined(booking_id, actor="platform:live")
    office.view.list_current(office.service, booking_id)
    scheduler = office.scheduler()
    office.clock.set(SESSION_END_DUE)
    with running(scheduler):
        wait_until(lambda: office.service.get_booking(booking_id).status == COMPLETED)
    balance = office.service.get_account(office.member_of(booking_id)).balance()
    assert balance == {"available": 0, "held": 0, "consumed": 1, "forfeited": 0}


def test_an_unconfirmed_booking_expires_and_its_credit_returns(office: Office) -> None:
    booking_id = office.book()
    scheduler = office.scheduler()
    with running(scheduler):
        office.clock.set(CONFIRM_BY)
        wait_until(lambda: office.service.get_booking(booking_id).status == EXPIRED)
    balance = office.service.get_account(office.member_of(booking_id)).balance()
    assert balance == {"available": 1, "held": 0, "consumed": 0, "forfeited": 0}
    assert str(booking_id) not in office.service.get_calendar("dr-okafor").slots


def test_deadlines_already_due_at_start_fire_at_once(office: Office) -> None:
    overdue = [office.book(start=START + timedelta(hours=h)) for h in range(3)]
    office.clock.set(CONFIRM_BY + timedelta(hours=5))  # the scheduler was down for hours
    scheduler = office.scheduler()
    with running(scheduler):
        health = settled(scheduler)
    assert [office.service.get_booking(b).status for b in overdue] == [EXPIRED] * 3
    assert health["recorded"] == 6  # three free-cancellation closes and three expiries
    assert health["pending"] == 0


def test_a_rescheduled_booking_records_nothing_at_its_old_deadline(office: Office) -> None:
    booking_id = office.book()
    scheduler = office.scheduler(resync_interval=3600, refresh_interval=3600)  # the view lags behind
    office.clock.set(FREE_UNTIL - timedelta(hours=1))
    later = START + timedelta(days=1)
    with running(scheduler):
        settled(scheduler)
        office.service.reschedule_session(booking_id, later, actor=f"member:{office.member_of(booking_id)}")
        before = office.event_names(booking_id)
        office.clock.set(CONFIRM_BY)
        health = settled(scheduler)
        assert office.event_names(booking_id) == before  # the old deadlines found stale
        assert health["stale"] == 2 and health["recorded"] == 0
        assert office.service.get_booking(booking_id).status == PENDING

    office.view.list_current(office.service, booking_id)  # the view catches up
    scheduler = office.scheduler()
    office.clock.set(later - timedelta(hours=24))
    with running(scheduler):
        wait_until(lambda: office.service.get_booking(booking_id).status == EXPIRED)


def test_a_cancelled_booking_records_nothing_at_its_deadlines(office: Office) -> None:
    booking_id = office.book(confirm=True)
    office.clock.set(FREE_UNTIL - timedelta(minutes=1))
    office.service.cancel_session(booking_id, actor=f"member:{office.member_of(booking_id)}")
    before = office.event_names(booking_id)
    scheduler = office.scheduler(resync_interval=3600, refresh_interval=3600)  # still listed
    office.clock.set(SESSION_END_DUE + timedelta(days=1))
    with running(scheduler):
        health = settled(scheduler)
    assert office.event_names(booking_id) == before
    assert office.service.get_booking(booking_id).status == CANCELLED
    assert (health["stale"], health["recorded"]) == (2, 0)


def test_a_deadline_listed_while_running_is_picked_up(office: Office) -> None:
    scheduler = office.scheduler()
    with running(scheduler):
        booking_id = office.book(listed=False)
        office.clock.set(CONFIRM_BY)
        settled(scheduler)
        assert office.service.get_booking(booking_id).status == PENDING  # not listed, not known
        office.view.list_current(office.service, booking_id)
        wait_until(lambda: office.service.get_booking(booking_id).status == EXPIRED)


def test_a_deadline_the_view_stops_listing_is_dropped_within_a_refresh(office: Office) -> None:
    booking_id = office.book()
    scheduler = office.scheduler()
    with running(scheduler):
        assert scheduler.health()["pending"] == 2
        office.service.decline_session(booking_id, actor="provider:dr-okafor")
        office.view.list_current(office.service, booking_id)
        wait_until(lambda: scheduler.health()["pending"] == 0, what="the declined booking's deadlines to go")


def test_two_schedulers_firing_the_same_deadlines_record_each_event_once(office: Office) -> None:
    bookings = [office.book(start=START + timedelta(hours=h), confirm=h % 2 == 0) for h in range(6)]
    first, second = office.scheduler(), office.scheduler()
    office.clock.set(START + timedelta(days=2))
    with running(first, second):
        settled(first)
        settled(second)
    for booking_id in bookings:
        names = office.event_names(booking_id)
        assert names.count("FreeCancellationClosed") == 1
        assert names.count("ConfirmationExpired") + names.count("NoShowRecorded") == 1
        assert names.count("CreditForfeited") == names.count("NoShowRecorded")
    recorded = first.health()["recorded"] + second.health()["recorded"]  # type: ignore[operator]
    assert recorded == 12


def test_overdue_deadlines_of_one_booking_are_recorded_in_due_order_by_many_workers(office: Office) -> None:
    overdue = [
        office.book(start=START + timedelta(hours=2 * h)) for h in range(24)
    ]  # closes and expiries interleave
    office.clock.set(CONFIRM_BY + timedelta(days=3))  # every close and expiry is overdue at start
    scheduler = office.scheduler(workers=8)
    with running(scheduler):
        health = settled(scheduler)
    for booking_id in overdue:
        names = office.event_names(booking_id)
        assert names[-2:] == ["FreeCancellationClosed", "ConfirmationExpired"], names
    assert health["recorded"] == 2 * len(overdue)

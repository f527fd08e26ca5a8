"""The reminder deadline: recorded once, only for a confirmed booking whose start has not moved."""

from __future__ import annotations

from datetime import timedelta

from domain.booking import REMINDER, SESSION_END, Booking
from domain.policy import Policy
from tests.unit.domain.test_credits_and_deadlines import MIA, START, confirmed, reserved

HOUR = timedelta(hours=1)


def test_a_confirmed_booking_is_reminded_once_a_lead_before_its_start() -> None:
    world, booking, account = confirmed()
    due = START - timedelta(hours=24)
    assert booking.reminder_due == due
    assert (REMINDER, due) in booking.pending_deadlines()
    assert not booking.record_deadline(REMINDER, due, account, world.calendar, due - timedelta(seconds=1))

    assert booking.record_deadline(REMINDER, due, account, world.calendar, due)
    event = booking.pending_events[-1]
    assert isinstance(event, Booking.SessionReminderDue)
    assert (event.due, event.starts_at, event.actor) == (due, START, "system:scheduler")
    assert booking.status == "confirmed"
    world.collect_all(booking)
    assert not booking.record_deadline(REMINDER, due, account, world.calendar, due + HOUR)
    assert booking.pending_events == []
    assert [k for k, _ in booking.pending_deadlines()][-1:] == [SESSION_END]
    assert REMINDER not in dict(booking.pending_deadlines())


def test_an_unconfirmed_booking_gets_no_reminder() -> None:
    world, booking, account = reserved()
    due = START - timedelta(hours=24)
    assert REMINDER not in dict(booking.pending_deadlines())
    assert not booking.record_deadline(REMINDER, due, account, world.calendar, due)


def test_a_moved_start_makes_the_old_reminder_stale_and_a_new_confirmation_brings_a_new_one() -> None:
    world, booking, account = confirmed()
    old_due = booking.reminder_due
    assert old_due is not None
    booking.reschedule(account, world.calendar, START + timedelta(days=2), False, MIA, world.now)
    booking.confirm(world.provider, world.now)
    world.collect_all(booking)

    assert not booking.record_deadline(REMINDER, old_due, account, world.calendar, old_due + HOUR)
    new_due = START + timedelta(days=2) - timedelta(hours=24)
    assert (REMINDER, new_due) in booking.pending_deadlines()
    assert booking.record_deadline(REMINDER, new_due, account, world.calendar, new_due)


def test_a_reminder_already_sent_for_a_start_is_sent_again_after_the_start_moves() -> None:
    world, booking, account = confirmed(credits=2)
    first_due = booking.reminder_due
    assert first_due is not None
    world.at(first_due)
    assert booking.record_deadline(REMINDER, first_due, account, world.calendar, first_due)
    booking.reschedule(account, world.calendar, START + timedelta(days=3), True, MIA, world.now)
    booking.confirm(world.provider, world.now)
    assert booking.reminder_due == START + timedelta(days=2)
    assert (REMINDER, booking.reminder_due) in booking.pending_deadlines()


def test_reminders_are_off_when_the_lead_is_zero() -> None:
    world, booking, account = reserved(policy=Policy(reminder_lead=timedelta(0)))
    booking.confirm(world.provider, world.now)
    assert booking.reminder_due is None
    assert REMINDER not in dict(booking.pending_deadlines())
    assert not booking.record_deadline(REMINDER, START - timedelta(hours=24), account, world.calendar, START)

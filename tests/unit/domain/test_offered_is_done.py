"""What is offered is what the command does: a reschedule to the start a booking already has is
refused (it would undo the provider's confirmation and, late, forfeit a credit for nothing), and
a reminder is never recorded for a session that has already started."""

from __future__ import annotations

from datetime import timedelta

from domain.booking import CONFIRMED, REMINDER, SESSION_END
from domain.policy import Policy
from tests.unit.domain.test_credits_and_deadlines import MIA, START, confirmed, reserved
from tests.unit.domain.world import unchanged

SECOND = timedelta(seconds=1)


def test_rescheduling_to_the_same_start_is_refused_early_or_late_and_changes_nothing() -> None:
    world, booking, account = confirmed()
    for now in (world.now, booking.free_until - SECOND, booking.free_until, START - SECOND):
        with unchanged(booking, account, world.calendar, code="same_start") as refusal:
            booking.reschedule(account, world.calendar, START, True, MIA, now)
        assert "2026-03-06T10:00:00Z" in refusal.value.message
    assert (booking.status, account.balance()["forfeited"]) == (CONFIRMED, 0)


def test_a_start_one_slot_away_is_a_reschedule() -> None:
    world, booking, account = confirmed()
    booking.reschedule(account, world.calendar, START + timedelta(minutes=15), False, MIA, world.now)
    assert booking.starts_at == START + timedelta(minutes=15)


def test_a_reminder_is_recorded_until_a_second_before_the_start_and_never_from_the_start() -> None:
    policy = Policy(reminder_lead=timedelta(seconds=30))
    world, booking, account = reserved(policy=policy)
    booking.confirm(world.provider, world.now)
    world.collect_all(booking)
    due = START - timedelta(seconds=30)
    assert (REMINDER, due) in booking.pending_deadlines()
    assert not booking.record_deadline(REMINDER, due, account, world.calendar, START)
    assert not booking.record_deadline(REMINDER, due, account, world.calendar, START + timedelta(minutes=5))
    assert booking.pending_events == []
    assert booking.record_deadline(REMINDER, due, account, world.calendar, START - SECOND)
    assert REMINDER not in dict(booking.pending_deadlines()) and SESSION_END in dict(
        booking.pending_deadlines()
    )

"""The scheduler records the reminder at its instant, once, and not after the start moved."""

from __future__ import annotations

from datetime import timedelta

from domain.policy import Policy
from tests.polling import wait_until
from tests.unit.scheduler.support import SECOND, START, Office, running, settled

REMINDER_DUE = START - timedelta(hours=24)


def test_the_reminder_fires_at_its_instant_once_and_changes_nothing() -> None:
    office = Office(Policy())  # reminders on: 24 hours before the start
    booking_id = office.book(confirm=True)
    scheduler = office.scheduler()
    office.clock.set(REMINDER_DUE - SECOND)
    with running(scheduler):
        settled(scheduler)
        assert "SessionReminderDue" not in office.event_names(booking_id)
        office.clock.set(REMINDER_DUE)
        wait_until(lambda: "SessionReminderDue" in office.event_names(booking_id), what="the reminder")
        settled(scheduler)
    assert office.event_names(booking_id).count("SessionReminderDue") == 1
    assert office.service.get_booking(booking_id).status == "confirmed"


def test_an_unconfirmed_or_moved_booking_gets_no_reminder_for_the_old_start() -> None:
    office = Office(Policy())
    pending = office.book(START)
    moved = office.book(START + timedelta(days=1), confirm=True)
    office.service.reschedule_session(
        moved, START + timedelta(days=2), actor=f"member:{office.member_of(moved)}"
    )
    # the listed view still holds the old reminder: the booking itself must refuse it as stale
    scheduler = office.scheduler()
    office.clock.set(START + timedelta(days=1) - timedelta(hours=23))  # past both old reminder instants
    with running(scheduler):
        settled(scheduler)
    assert "SessionReminderDue" not in office.event_names(pending)
    assert "SessionReminderDue" not in office.event_names(moved)

"""The calendar's held slots: sorted by start, found by bisection, ended ones dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eventsourcing.domain import Snapshot

from domain.actors import Actor
from domain.calendar import ProviderCalendar

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SYSTEM = Actor("system", "test")


def hold(
    calendar: ProviderCalendar, booking_id: str, starts_at: datetime, minutes: int, at: datetime
) -> None:
    calendar.trigger_event(
        calendar.SlotHeld,
        booking_id=booking_id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        actor=str(SYSTEM),
        timestamp=at,
    )


def test_overlaps_are_found_whatever_the_lengths_and_the_order_of_holding() -> None:
    calendar = ProviderCalendar.open("pat", NOW)
    day = NOW + timedelta(days=3)
    hold(calendar, "late", day + timedelta(hours=5), 30, NOW)
    hold(calendar, "long", day, 60, NOW)
    hold(calendar, "short", day + timedelta(hours=2), 30, NOW)
    assert [slot[2] for slot in calendar.booked] == ["long", "short", "late"]
    assert calendar.overlapping_bookings(day + timedelta(minutes=45), day + timedelta(minutes=75)) == ["long"]
    assert calendar.overlapping_bookings(day + timedelta(minutes=60), day + timedelta(minutes=120)) == []
    assert calendar.overlapping_bookings(day, day + timedelta(hours=6)) == ["long", "short", "late"]
    assert calendar.overlapping_bookings(day, day + timedelta(hours=6), ignoring="short") == ["long", "late"]
    hold(calendar, "short", day + timedelta(hours=3), 30, NOW)  # moved: held once, at its new time
    assert calendar.slots["short"] == [day + timedelta(hours=3), day + timedelta(hours=3, minutes=30)]
    assert len(calendar.booked) == 3


def test_slots_that_surely_ended_are_dropped_when_a_new_one_is_held() -> None:
    calendar = ProviderCalendar.open("pat", NOW)
    for n in range(100):
        hold(calendar, f"past-{n}", NOW + timedelta(hours=n), 45, NOW)
    later = NOW + timedelta(days=30)
    hold(calendar, "new", later + timedelta(days=2), 45, later)
    assert list(calendar.slots) == ["new"]


def test_a_snapshot_of_the_old_shape_loads_into_the_sorted_slots() -> None:
    calendar = ProviderCalendar.open("pat", NOW)
    state = dict(Snapshot.take(calendar).state)
    for key in ("booked", "longest", "class_version"):
        state.pop(key)
    day = NOW + timedelta(days=3)
    state["slots"] = {
        "b": [day + timedelta(hours=1), day + timedelta(hours=2)],
        "a": [day, day + timedelta(minutes=30)],
    }
    old = Snapshot(
        originator_id=calendar.id,
        originator_version=calendar.version,
        timestamp=NOW,
        topic=Snapshot.take(calendar).topic,
        state=state,
    )
    loaded = old.mutate(None)
    assert isinstance(loaded, ProviderCalendar)
    assert [slot[2] for slot in loaded.booked] == ["a", "b"]
    assert loaded.longest == 3600
    assert loaded.overlapping_bookings(day + timedelta(minutes=90), day + timedelta(hours=3)) == ["b"]

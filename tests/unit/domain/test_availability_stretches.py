"""Availability as a provider means it: windows that touch or overlap are one stretch (also across
midnight), the member's own booking is not in the way of its reschedule, and a wall-clock time the
clocks skip is never a start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.actors import Actor
from domain.availability import Availability, weekly_hours
from tests.unit.domain.world import World, unchanged

FRIDAY = datetime(2026, 3, 6, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")
SPRING_FORWARD = datetime(2026, 3, 29, tzinfo=UTC)  # Sunday: 01:00 GMT jumps to 02:00 BST (01:00Z)
BEFORE_SPRING = datetime(2026, 3, 23, 9, tzinfo=UTC)


def friday_windows(*windows: tuple[str, str]) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "weekly": [{"weekday": "friday", "start": start, "end": end} for start, end in windows],
    }


def offered(world: World, day: datetime, length: int, ignoring: str | None = None) -> list[datetime]:
    return world.calendar.available_starts(
        timedelta(minutes=length),
        day,
        day + timedelta(hours=23, minutes=59),
        world.policy,
        world.now,
        ignoring,
    )


@pytest.mark.parametrize(
    "windows",
    [
        (("09:00", "12:00"), ("12:00", "17:00")),  # adjacent
        (("12:00", "17:00"), ("09:00", "12:00")),  # adjacent, published in another order
        (("09:00", "12:30"), ("11:00", "17:00")),  # overlapping
        (("09:00", "17:00"), ("10:00", "11:00")),  # one inside the other
    ],
)
def test_windows_that_touch_or_overlap_are_one_stretch(windows: tuple[tuple[str, str], ...]) -> None:
    world = World(availability=friday_windows(*windows))
    starts = offered(world, FRIDAY, 60)
    assert FRIDAY + timedelta(hours=11, minutes=30) in starts
    assert starts == [FRIDAY + timedelta(hours=9, minutes=15 * i) for i in range(29)]  # 09:00 .. 16:00
    world.member("mia")
    booking = world.reserve("mia", FRIDAY + timedelta(hours=11, minutes=30), length=60)
    assert booking.ends_at == FRIDAY + timedelta(hours=12, minutes=30)


def test_windows_with_a_gap_between_them_stay_apart() -> None:
    world = World(availability=friday_windows(("09:00", "12:00"), ("12:15", "17:00")))
    assert FRIDAY + timedelta(hours=11, minutes=30) not in offered(world, FRIDAY, 60)
    world.member("mia")
    with unchanged(world.calendar, world.accounts["mia"], code="outside_availability"):
        world.reserve("mia", FRIDAY + timedelta(hours=11, minutes=30), length=60)


def test_a_provider_available_around_the_clock_can_be_booked_across_midnight() -> None:
    world = World(availability=weekly_hours("UTC", "00:00", "24:00"))
    late = FRIDAY + timedelta(hours=23, minutes=45)
    assert late in offered(world, FRIDAY, 30)
    world.member("mia")
    assert world.reserve("mia", late, length=30).ends_at == FRIDAY + timedelta(days=1, minutes=15)


def test_a_day_ending_at_midnight_joins_the_next_day_starting_at_midnight_also_from_an_exception() -> None:
    availability = {
        "timezone": "Europe/London",
        "weekly": [
            {"weekday": "friday", "start": "20:00", "end": "24:00"},
            {"weekday": "saturday", "start": "00:00", "end": "02:00"},
        ],
        "exceptions": [{"date": "2026-03-13", "windows": [{"start": "22:00", "end": "24:00"}]}],
    }
    world = World(availability=availability)
    assert FRIDAY + timedelta(hours=23, minutes=30) in offered(world, FRIDAY, 60)
    next_friday = FRIDAY + timedelta(days=7)
    assert next_friday + timedelta(hours=23, minutes=30) in offered(world, next_friday, 60)
    assert next_friday + timedelta(hours=21, minutes=30) not in offered(world, next_friday, 60)
    world.member("mia")
    assert world.reserve("mia", next_friday + timedelta(hours=23, minutes=30), length=60)


def test_a_window_ending_at_midnight_alone_ends_there() -> None:
    world = World(availability=friday_windows(("20:00", "24:00")))
    starts = offered(world, FRIDAY, 30)
    assert starts[-1] == FRIDAY + timedelta(hours=23, minutes=30)
    world.member("mia")
    with unchanged(world.calendar, code="outside_availability"):
        world.reserve("mia", FRIDAY + timedelta(hours=23, minutes=45), length=30)


def test_the_member_rescheduling_sees_starts_overlapping_their_own_booking() -> None:
    world = World(availability=friday_windows(("09:00", "12:00")))
    world.member("mia")
    world.member("max")
    mine = world.reserve("mia", FRIDAY + timedelta(hours=10), length=60)
    for_others = offered(world, FRIDAY, 60)
    for_me = offered(world, FRIDAY, 60, ignoring=str(mine.id))
    assert FRIDAY + timedelta(hours=10, minutes=30) not in for_others
    assert FRIDAY + timedelta(hours=10, minutes=30) in for_me
    assert set(for_others) < set(for_me)
    assert for_me == [FRIDAY + timedelta(hours=9, minutes=15 * i) for i in range(9)]
    # and what is offered to me is accepted for my booking
    moved_to = FRIDAY + timedelta(hours=10, minutes=30)
    mine.reschedule(
        world.account_of(mine), world.calendar, moved_to, False, Actor("member", "mia"), world.now
    )
    assert mine.starts_at == moved_to


# --- the hour the clocks skip ------------------------------------------------------------------


def london_sunday(start: str, end: str) -> dict[str, Any]:
    return {"timezone": "Europe/London", "weekly": [{"weekday": "sunday", "start": start, "end": end}]}


def wall(instant: datetime) -> str:
    return instant.astimezone(LONDON).strftime("%H:%M")


def test_no_skipped_wall_clock_time_is_offered() -> None:
    world = World(availability=london_sunday("00:00", "04:00"), now=BEFORE_SPRING)
    starts = offered(world, SPRING_FORWARD - timedelta(hours=1), 30)
    walls = [wall(s) for s in starts]
    assert walls == ["00:00", "00:15", "00:30", "00:45"] + [
        f"{2 + i // 4:02d}:{15 * (i % 4):02d}" for i in range(7)
    ]
    assert not any(w.startswith("01:") for w in walls)
    # three real hours: a session across the jump lasts its real length
    world.member("mia")
    across = world.reserve("mia", SPRING_FORWARD + timedelta(minutes=45), length=30)
    assert (wall(across.starts_at), wall(across.ends_at)) == ("00:45", "02:15")


@pytest.mark.parametrize(
    ("start", "end", "first", "last_end"),
    [
        ("01:30", "03:00", "02:00", "03:00"),  # opens when the clocks have jumped past 01:30
        ("00:00", "01:30", "00:00", "01:00"),  # ends when the clocks jump (01:00 GMT = 02:00 BST)
    ],
)
def test_a_window_edge_in_the_skipped_hour_is_the_jump(
    start: str, end: str, first: str, last_end: str
) -> None:
    world = World(availability=london_sunday(start, end), now=BEFORE_SPRING)
    starts = offered(world, SPRING_FORWARD - timedelta(hours=1), 30)
    assert wall(starts[0]) == first
    assert starts[-1] + timedelta(minutes=30) == SPRING_FORWARD + timedelta(
        hours=1 if last_end == "01:00" else 2
    )


def test_a_window_inside_the_skipped_hour_offers_and_accepts_nothing() -> None:
    world = World(availability=london_sunday("01:00", "02:00"), now=BEFORE_SPRING)
    assert offered(world, SPRING_FORWARD - timedelta(hours=1), 30) == []
    world.member("mia")
    # every instant of that night, however its offset is written: 00:30Z, 01:00Z (02:00 BST), 01:30Z
    for text in ("2026-03-29T01:30:00+01:00", "2026-03-29T01:00:00+00:00", "2026-03-29T01:30:00+00:00"):
        with unchanged(world.calendar, world.accounts["mia"], code="outside_availability"):
            world.reserve("mia", datetime.fromisoformat(text).astimezone(UTC), length=30)


def test_a_skipped_time_written_with_an_offset_is_the_instant_it_names() -> None:
    # "01:30+01:00" names 00:30Z, which London's clocks show as 00:30 GMT: outside 01:30-03:00
    world = World(availability=london_sunday("01:30", "03:00"), now=BEFORE_SPRING)
    world.member("mia", credits=2)
    with unchanged(world.calendar, code="outside_availability"):
        world.reserve("mia", datetime.fromisoformat("2026-03-29T01:30:00+01:00").astimezone(UTC), length=30)
    booked = world.reserve(
        "mia", datetime.fromisoformat("2026-03-29T02:00:00+01:00").astimezone(UTC), length=30
    )
    assert wall(booked.starts_at) == "02:00"


def test_stretches_merge_in_order_and_cut_at_the_ends_of_the_range() -> None:
    availability = Availability.from_dict(weekly_hours("UTC", "00:00", "24:00"))
    stretches = availability.stretches(FRIDAY.date(), FRIDAY.date() + timedelta(days=2))
    assert stretches == [(FRIDAY, FRIDAY + timedelta(days=3))]

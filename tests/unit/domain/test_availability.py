"""Availability in the provider's IANA zone: local hours across DST changes, the skipped and
the repeated hour, exceptions, and malformed availability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.actors import Actor
from domain.availability import Availability
from domain.booking import PENDING
from domain.calendar import ProviderCalendar
from domain.policy import Policy
from tests.unit.domain.world import World, unchanged

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")


def weekdays_9_to_5(zone: str, **extra: Any) -> dict[str, Any]:
    return {
        "timezone": zone,
        "weekly": [{"weekday": d, "start": "09:00", "end": "17:00"} for d in WEEKDAYS],
        **extra,
    }


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def starts_on(world: World, day: datetime, length: int = 60) -> list[datetime]:
    return world.calendar.available_starts(
        timedelta(minutes=length), day, day + timedelta(hours=23, minutes=59), world.policy, world.now
    )


# (zone, a Monday to stand on, the Friday before the change, the Monday after, UTC opening hours)
DST_CHANGES = [
    ("America/New_York", utc(2026, 3, 2, 9), utc(2026, 3, 6), utc(2026, 3, 9), (14, 13)),
    ("America/New_York", utc(2026, 10, 26, 9), utc(2026, 10, 30), utc(2026, 11, 2), (13, 14)),
    ("Europe/London", utc(2026, 3, 23, 9), utc(2026, 3, 27), utc(2026, 3, 30), (9, 8)),
    ("Europe/London", utc(2026, 10, 19, 9), utc(2026, 10, 23), utc(2026, 10, 26), (8, 9)),
]


@pytest.mark.parametrize(("zone", "now", "before", "after", "opens"), DST_CHANGES)
def test_local_hours_map_to_other_utc_instants_either_side_of_a_dst_change(
    zone: str, now: datetime, before: datetime, after: datetime, opens: tuple[int, int]
) -> None:
    world = World(availability=weekdays_9_to_5(zone), now=now)
    for day, hour in zip((before, after), opens, strict=True):
        starts = starts_on(world, day)
        assert starts[0] == day + timedelta(hours=hour)
        assert starts[-1] == day + timedelta(hours=hour + 7)  # a 60-minute session ending at 17:00 local
        assert len(starts) == 29  # 09:00 to 16:00 local in 15-minute steps


@pytest.mark.parametrize(("zone", "now", "before", "after", "opens"), DST_CHANGES)
def test_reserving_follows_the_local_window_across_a_dst_change(
    zone: str, now: datetime, before: datetime, after: datetime, opens: tuple[int, int]
) -> None:
    world = World(availability=weekdays_9_to_5(zone), now=now)
    world.member("mia", credits=4)
    earlier, later = min(opens), max(opens)
    # The earlier UTC opening hour is one hour before 09:00 local on the day that opens later.
    day_opening_later = before if opens[0] == later else after
    day_opening_earlier = after if day_opening_later is before else before
    with unchanged(world.calendar, world.accounts["mia"], code="outside_availability"):
        world.reserve("mia", day_opening_later + timedelta(hours=earlier), length=60)
    assert world.reserve("mia", day_opening_earlier + timedelta(hours=earlier), length=60).status == PENDING
    with unchanged(world.calendar, world.accounts["mia"], code="outside_availability"):
        world.reserve("mia", day_opening_earlier + timedelta(hours=later + 7), length=60)
    assert world.reserve("mia", day_opening_later + timedelta(hours=later + 7), length=60).status == PENDING


def test_a_session_across_the_skipped_hour_lasts_its_real_length() -> None:
    # New York, Sunday 8 March 2026: 02:00 EST jumps to 03:00 EDT (07:00Z).
    availability = {
        "timezone": "America/New_York",
        "weekly": [{"weekday": "sunday", "start": "00:00", "end": "06:00"}],
    }
    world = World(availability=availability)
    starts = starts_on(world, utc(2026, 3, 8))
    assert (starts[0], starts[-1]) == (utc(2026, 3, 8, 5), utc(2026, 3, 8, 9))  # 00:00 EST .. 05:00 EDT
    assert len(starts) == 17  # five real hours in a window of six local hours
    world.member("mia")
    booking = world.reserve("mia", utc(2026, 3, 8, 6, 30), length=60)  # 01:30 EST to 03:30 EDT
    assert booking.ends_at - booking.starts_at == timedelta(minutes=60)


def test_a_window_that_opens_inside_the_skipped_hour_opens_when_the_clocks_have_jumped() -> None:
    availability = {
        "timezone": "America/New_York",
        "weekly": [{"weekday": "sunday", "start": "02:30", "end": "05:00"}],
    }
    world = World(availability=availability)
    starts = starts_on(world, utc(2026, 3, 8), length=30)
    # 02:30 never happens that day: the window opens when the clocks jump past it, 03:00 EDT
    assert starts[0] == utc(2026, 3, 8, 7)
    assert starts[-1] == utc(2026, 3, 8, 8, 30)  # ends at 05:00 EDT = 09:00Z


@pytest.mark.parametrize(
    ("zone", "now", "sunday", "first", "second"),
    [
        (
            "America/New_York",
            utc(2026, 10, 26, 9),
            utc(2026, 11, 1),
            utc(2026, 11, 1, 5),
            utc(2026, 11, 1, 6),
        ),
        (
            "Europe/London",
            utc(2026, 10, 19, 9),
            utc(2026, 10, 25),
            utc(2026, 10, 25, 0),
            utc(2026, 10, 25, 1),
        ),
    ],
)
def test_both_sessions_at_the_same_local_time_in_the_repeated_hour_are_distinct_instants(
    zone: str, now: datetime, sunday: datetime, first: datetime, second: datetime
) -> None:
    availability = {"timezone": zone, "weekly": [{"weekday": "sunday", "start": "00:00", "end": "03:00"}]}
    world = World(availability=availability, now=now)
    starts = starts_on(world, sunday - timedelta(hours=2), length=45)
    assert first in starts and second in starts
    assert len(starts) == len(set(starts))
    assert len(starts) == 14  # four real hours, 45-minute sessions, 15-minute steps
    world.member("mia")
    world.member("max")
    one, other = world.reserve("mia", first), world.reserve("max", second)
    assert one.starts_at.astimezone(availability_zone(zone)).strftime("%H:%M") == "01:00"
    assert other.starts_at.astimezone(availability_zone(zone)).strftime("%H:%M") == "01:00"
    assert other.starts_at - one.starts_at == timedelta(hours=1)


def availability_zone(zone: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(zone)


def test_a_day_off_exception_removes_the_weekly_hours() -> None:
    world = World(
        availability=weekdays_9_to_5("Europe/London", exceptions=[{"date": "2026-03-06", "windows": []}])
    )
    world.member("mia")
    assert starts_on(world, utc(2026, 3, 6)) == []
    assert starts_on(world, utc(2026, 3, 5))[0] == utc(2026, 3, 5, 9)
    with unchanged(world.calendar, world.accounts["mia"], code="outside_availability"):
        world.reserve("mia", utc(2026, 3, 6, 10))


def test_custom_hours_replace_the_weekly_hours_for_that_date() -> None:
    exceptions = [
        {"date": "2026-03-07", "windows": [{"start": "10:00", "end": "12:00"}]},  # a Saturday
        {
            "date": "2026-03-06",
            "windows": [{"start": "07:00", "end": "08:00"}, {"start": "18:00", "end": "19:30"}],
        },
    ]
    world = World(availability=weekdays_9_to_5("Europe/London", exceptions=exceptions))
    assert starts_on(world, utc(2026, 3, 7)) == [
        utc(2026, 3, 7, 10) + timedelta(minutes=15 * i) for i in range(5)
    ]
    friday = starts_on(world, utc(2026, 3, 6))
    assert friday == [
        utc(2026, 3, 6, 7),
        utc(2026, 3, 6, 18),
        utc(2026, 3, 6, 18, 15),
        utc(2026, 3, 6, 18, 30),
    ]
    world.member("mia")
    with unchanged(world.calendar, code="outside_availability"):
        world.reserve("mia", utc(2026, 3, 6, 10))


def test_a_session_must_lie_wholly_inside_one_window() -> None:
    world = World(availability=weekdays_9_to_5("UTC"))
    world.member("mia", credits=2)
    with unchanged(world.calendar, code="outside_availability"):
        world.reserve("mia", utc(2026, 3, 6, 16, 30), length=45)
    with unchanged(world.calendar, code="outside_availability"):
        world.reserve("mia", utc(2026, 3, 6, 8, 45), length=30)
    assert world.reserve("mia", utc(2026, 3, 6, 16, 15), length=45).ends_at == utc(2026, 3, 6, 17)


def test_offered_starts_leave_out_held_slots_and_respect_notice_and_horizon() -> None:
    world = World(availability=weekdays_9_to_5("UTC"))
    world.member("mia")
    world.reserve("mia", utc(2026, 3, 6, 10), length=60)
    friday = starts_on(world, utc(2026, 3, 6), length=30)
    assert utc(2026, 3, 6, 9, 30) in friday and utc(2026, 3, 6, 11) in friday
    assert not {utc(2026, 3, 6, 9, 45), utc(2026, 3, 6, 10), utc(2026, 3, 6, 10, 45)} & set(friday)
    assert starts_on(world, utc(2026, 3, 2)) == []  # today: inside the minimum notice
    # 24 h of notice plus an hour for the provider to confirm
    assert starts_on(world, utc(2026, 3, 3))[0] == utc(2026, 3, 3, 10)
    assert starts_on(world, utc(2026, 5, 1)) == [utc(2026, 5, 1, 9)]  # the last instant of the horizon


def test_a_provider_without_published_availability_offers_nothing_and_refuses_bookings() -> None:
    world = World()
    world.member("mia")
    calendar = ProviderCalendar.open("new", world.now)
    assert (
        calendar.available_starts(
            timedelta(minutes=45), world.now, world.now + timedelta(days=9), Policy(), world.now
        )
        == []
    )
    with pytest.raises(Exception) as refusal:
        calendar.check_bookable(utc(2026, 3, 6, 10), utc(2026, 3, 6, 11), Policy(), world.now)
    assert getattr(refusal.value, "code", None) == "outside_availability"


@pytest.mark.parametrize(
    "availability",
    [
        {"timezone": "Mars/Olympus", "weekly": []},
        {"timezone": "", "weekly": []},
        {"weekly": []},
        {"timezone": "UTC", "weekly": [{"weekday": "funday", "start": "09:00", "end": "17:00"}]},
        {"timezone": "UTC", "weekly": [{"weekday": "monday", "start": "17:00", "end": "09:00"}]},
        {"timezone": "UTC", "weekly": [{"weekday": "monday", "start": "09:00", "end": "09:00"}]},
        {"timezone": "UTC", "weekly": [{"weekday": "monday", "start": "9:00", "end": "17:00"}]},
        {"timezone": "UTC", "weekly": [{"weekday": "monday", "start": "09:00", "end": "24:01"}]},
        {"timezone": "UTC", "weekly": [{"weekday": "monday", "start": "09:60", "end": "17:00"}]},
        {"timezone": "UTC", "exceptions": [{"date": "2026-02-30", "windows": []}]},
        "weekdays",
    ],
)
def test_malformed_availability_is_invalid_input_and_publishes_nothing(availability: Any) -> None:
    world = World()
    with unchanged(world.calendar, code="invalid_input"):
        world.calendar.publish(availability, Actor("provider", "pat"), world.now)


def test_published_availability_round_trips_through_its_plain_form() -> None:
    data = weekdays_9_to_5(
        "Europe/London", exceptions=[{"date": "2026-03-07", "windows": [{"start": "10:00", "end": "24:00"}]}]
    )
    parsed = Availability.from_dict(data)
    assert Availability.from_dict(parsed.to_dict()) == parsed
    assert parsed.to_dict()["exceptions"] == data["exceptions"]

"""``record_deadlines``: several deadlines read and saved together must give each deadline the
outcome ``record_deadline`` gives it alone, record each one once, and lose no other process's
change, also when this service's cache is stale (run on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.availability import weekly_hours
from domain.booking import CONFIRMATION
from domain.errors import InvalidInput, NotFound
from domain.time import to_utc

PROVIDERS = ("dr-okafor", "dr-lind")
ALL_DAY = weekly_hours("UTC", "00:00", "24:00")
MISSING = "00000000-0000-4000-8000-000000000000"


class NoWarming(BookingService):
    """A service whose cache is used as it is: ``record_deadlines`` then decides on whatever
    stale copies it holds, as it would if another process wrote between its read and its save."""

    name = BookingService.name  # the library names a subclass's tables after it otherwise

    def warm_up(self, booking_ids: Any, with_ledgers: Any = None) -> int:
        return 0


def book(service: BookingService, member: str, provider: str, starts_at: datetime) -> dict[str, Any]:
    room = service.open_room(member, provider)["room_id"]
    return service.reserve_session(room, starts_at, 45, "video", actor=f"member:{member}")


@pytest.fixture
def bookings(two_services: tuple[BookingService, BookingService], clock: ManualClock) -> list[dict[str, Any]]:
    """Four bookings with the same confirmation deadline: two of maya's (one account), one
    each of lee's and sam's; dr-okafor's calendar holds three of them."""
    first, _ = two_services
    for provider in PROVIDERS:
        first.publish_availability(provider, ALL_DAY, actor=f"provider:{provider}")
    friday = clock.now().replace(hour=10) + timedelta(days=4)
    first.add_credits("maya", "purchase", 2, "order-1")
    first.add_credits("lee", "purchase", 1, "order-2")
    first.add_credits("sam", "purchase", 1, "order-3")
    made = [
        book(first, "maya", "dr-okafor", friday),
        book(first, "maya", "dr-lind", friday + timedelta(hours=2)),
        book(first, "lee", "dr-okafor", friday + timedelta(hours=4)),
        book(first, "sam", "dr-okafor", friday + timedelta(hours=6)),
    ]
    for made_one in made:
        made_one["confirm_by"] = to_utc(made_one["confirm_by"], "confirm_by")
    return made


def pass_deadlines(clock: ManualClock, bookings: list[dict[str, Any]]) -> None:
    clock.set(max(b["confirm_by"] for b in bookings) + timedelta(minutes=1))


def expired(service: BookingService, booking_id: str) -> int:
    events = service.repository.event_store.get(service.get_booking(booking_id).id)
    return sum(type(e).__name__ == "ConfirmationExpired" for e in events)


def test_each_deadline_gets_its_own_outcome_and_is_recorded_once(
    two_services: tuple[BookingService, BookingService], bookings: list[dict[str, Any]], clock: ManualClock
) -> None:
    first, second = two_services
    maya_1, maya_2, lee, sam = (b["booking_id"] for b in bookings)
    second.confirm_session(lee, actor="provider:dr-okafor")  # its deadline no longer applies
    pass_deadlines(clock, bookings)
    assert second.record_deadline(sam, CONFIRMATION, bookings[3]["confirm_by"])["recorded"]
    batch = [(b["booking_id"], CONFIRMATION, b["confirm_by"]) for b in bookings]
    batch += [
        (MISSING, CONFIRMATION, bookings[0]["confirm_by"]),
        (maya_1, "lunch", bookings[0]["confirm_by"]),
    ]

    results = first.record_deadlines(batch)

    assert [r["recorded"] if isinstance(r, dict) else type(r) for r in results] == [
        True,  # maya's first
        True,  # maya's second: shares her account with the first, so recorded on its own
        False,  # lee's: confirmed by the other service meanwhile
        False,  # sam's: already recorded by the other service
        NotFound,
        InvalidInput,
    ]
    assert all(
        isinstance(r, Exception) or r["booking_id"] == b for r, (b, _, _) in zip(results, batch, strict=True)
    )
    again = first.record_deadlines(batch[:4])
    assert [r["recorded"] for r in again if isinstance(r, dict)] == [False] * 4
    for booking_id, count in ((maya_1, 1), (maya_2, 1), (lee, 0), (sam, 1)):
        assert expired(second, booking_id) == count
    assert second.get_account("maya").balance() == {"available": 2, "held": 0, "consumed": 0, "forfeited": 0}
    assert second.get_calendar("dr-okafor").slots.keys() == {lee}
    assert second.get_calendar("dr-lind").slots == {}


def test_a_stale_cached_aggregate_makes_the_group_read_anew_losing_nothing(
    two_services: tuple[BookingService, BookingService],
    bookings: list[dict[str, Any]],
    database_url: str,
    clock: ManualClock,
) -> None:
    _, second = two_services
    batch = [(b["booking_id"], CONFIRMATION, b["confirm_by"]) for b in bookings[1:]]  # maya, lee, sam
    stale = NoWarming(clock, env=event_store_env(database_url))
    try:
        for booking_id, _, _ in batch:
            stale.get_booking(booking_id)  # cached
        stale.get_account("maya")  # cached, then changed by the other service:
        second.add_credits("maya", "employer", 1, "grant-1")
        second.confirm_session(bookings[0]["booking_id"], actor="provider:dr-okafor")
        pass_deadlines(clock, bookings)

        results = stale.record_deadlines(batch)
        _, conflicts, _ = stale.command_counts.snapshot()
        assert conflicts == {"record_deadline": 1}  # saved together, then together again, read anew
    finally:
        stale.close()

    assert [r["recorded"] for r in results if isinstance(r, dict)] == [True, True, True]
    for booking_id, _, _ in batch:
        assert expired(second, booking_id) == 1
    assert second.get_account("maya").balance() == {"available": 2, "held": 1, "consumed": 0, "forfeited": 0}
    assert second.get_calendar("dr-okafor").slots.keys() == {bookings[0]["booking_id"]}

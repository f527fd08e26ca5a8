"""Offered starts through the service on SQLite and PostgreSQL: touching windows are one stretch,
around-the-clock providers are bookable across midnight, and a reschedule's own slot is not in
the way when the member asks with ``excluding``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from commands.service import BookingService
from domain.availability import weekly_hours
from domain.errors import BookingError

MEMBER, PROVIDER = "maya", "dr-okafor"
AS_MEMBER, AS_PROVIDER = f"member:{MEMBER}", f"provider:{PROVIDER}"
FRIDAY = datetime(2026, 3, 6, tzinfo=UTC)
SPLIT_DAY: dict[str, Any] = {
    "timezone": "UTC",
    "weekly": [
        {"weekday": "friday", "start": "09:00", "end": "12:00"},
        {"weekday": "friday", "start": "12:00", "end": "17:00"},
    ],
}


def head(service: BookingService) -> int:
    return service.recorder.max_notification_id() or 0


def room_with(service: BookingService, availability: dict[str, Any], credits: int = 1) -> str:
    room = str(service.open_room(MEMBER, PROVIDER)["room_id"])
    service.publish_availability(PROVIDER, availability, actor=AS_PROVIDER)
    service.add_credits(MEMBER, "purchase", credits, "order-1")
    return room


def test_a_session_across_two_touching_windows_is_offered_and_booked(service: BookingService) -> None:
    room = room_with(service, SPLIT_DAY)
    starts = service.available_starts(PROVIDER, 60, FRIDAY, FRIDAY + timedelta(days=1))
    assert FRIDAY + timedelta(hours=11, minutes=30) in starts
    booked = service.reserve_session(
        room, FRIDAY + timedelta(hours=11, minutes=30), 60, "video", actor=AS_MEMBER
    )
    assert booked["ends_at"] == "2026-03-06T12:30:00Z"


def test_an_around_the_clock_provider_is_bookable_at_a_quarter_to_midnight(service: BookingService) -> None:
    room = room_with(service, weekly_hours("UTC", "00:00", "24:00"))
    late = FRIDAY + timedelta(hours=23, minutes=45)
    assert late in service.available_starts(PROVIDER, 30, FRIDAY, FRIDAY + timedelta(days=1))
    assert (
        service.reserve_session(room, late, 30, "audio", actor=AS_MEMBER)["ends_at"] == "2026-03-07T00:15:00Z"
    )


def test_a_rescheduling_member_is_offered_starts_overlapping_their_own_slot(service: BookingService) -> None:
    room = room_with(service, SPLIT_DAY)
    booking = service.reserve_session(room, FRIDAY + timedelta(hours=10), 60, "video", actor=AS_MEMBER)[
        "booking_id"
    ]
    overlapping = FRIDAY + timedelta(hours=10, minutes=30)
    window = (FRIDAY, FRIDAY + timedelta(days=1))
    assert overlapping not in service.available_starts(PROVIDER, 60, *window)
    before = head(service)
    assert overlapping in service.available_starts(PROVIDER, 60, *window, excluding=booking, actor=AS_MEMBER)
    assert head(service) == before  # a query
    moved = service.reschedule_session(booking, overlapping, actor=AS_MEMBER)
    assert moved["starts_at"] == "2026-03-06T10:30:00Z"


def test_excluding_an_unknown_or_another_providers_booking_is_refused(service: BookingService) -> None:
    room_with(service, SPLIT_DAY)
    service.open_room("sam", "dr-lee")
    service.publish_availability("dr-lee", SPLIT_DAY, actor="provider:dr-lee")
    service.add_credits("sam", "purchase", 1, "order-s")
    elsewhere = service.reserve_session(
        service.open_room("sam", "dr-lee")["room_id"],
        FRIDAY + timedelta(hours=10),
        60,
        "video",
        actor="member:sam",
    )["booking_id"]
    window = (FRIDAY, FRIDAY + timedelta(days=1))
    for excluding, code in (
        ("00000000-0000-4000-8000-000000000000", "not_found"),
        (elsewhere, "invalid_input"),
    ):
        with pytest.raises(BookingError) as refusal:
            service.available_starts(PROVIDER, 60, *window, excluding=excluding, actor=AS_MEMBER)
        assert refusal.value.code == code

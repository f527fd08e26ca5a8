"""A scenario touching every view, shared by the projection tests (not a test module)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from commands.clock import ManualClock
from commands.service import BookingService
from domain.availability import weekly_hours
from domain.booking import FREE_CANCELLATION, SESSION_END

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
AVAILABILITY = weekly_hours("UTC", "09:00", "17:00", WEEKDAYS)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant in March 2026 (the clock fixture starts on Monday the 2nd at 09:00)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@dataclass
class Story:
    room_1: str
    room_2: str
    cancelled: str  # m1, confirmed, free-cancellation closed, late cancel, forfeit revoked
    rescheduled: str  # m1, pending, rescheduled once
    completed: str  # m2, confirmed, joined, completed at session end


def tell(service: BookingService, clock: ManualClock) -> Story:
    room_1 = service.open_room("m1", "p1")["room_id"]
    room_2 = service.open_room("m2", "p1")["room_id"]
    service.publish_availability("p1", AVAILABILITY, actor="provider:p1")
    service.add_credits("m1", "purchase", 2, "order-1")
    service.add_credits("m1", "insurance", 1, "claim-7")
    service.add_credits("m2", "employer", 1, "acme")

    cancelled = service.reserve_session(room_1, at(6, 10), 45, "video", actor="member:m1")["booking_id"]
    service.confirm_session(cancelled, actor="provider:p1")
    rescheduled = service.reserve_session(room_1, at(10, 10), 30, "chat", actor="member:m1")["booking_id"]
    completed = service.reserve_session(room_2, at(5, 14), 60, "audio", actor="member:m2")["booking_id"]
    service.confirm_session(completed, actor="provider:p1")

    clock.set(at(4, 10))
    assert service.record_deadline(cancelled, FREE_CANCELLATION, at(4, 10))["recorded"]
    clock.set(at(4, 12))
    service.cancel_session(cancelled, "trip", accept_forfeit=True, actor="member:m1")
    service.revoke_forfeit(cancelled, "flight cancelled", actor="operator:ops")
    service.reschedule_session(rescheduled, at(11, 11), actor="member:m1")

    clock.set(at(5, 14, 5))
    service.record_member_joined(completed, actor="platform:video")
    clock.set(at(5, 15, 30))
    assert service.record_deadline(completed, SESSION_END, at(5, 15, 30))["recorded"]
    return Story(room_1, room_2, cancelled, rescheduled, completed)


def tell_until_the_first_confirmation(service: BookingService, clock: ManualClock) -> tuple[str, str]:
    """Rooms, credits and one confirmed booking: the pending deadlines mid-story."""
    room = service.open_room("m1", "p1")["room_id"]
    service.publish_availability("p1", AVAILABILITY, actor="provider:p1")
    service.add_credits("m1", "purchase", 1, "order-2")
    booking = service.reserve_session(room, at(6, 10), 45, "video", actor="member:m1")["booking_id"]
    service.confirm_session(booking, actor="provider:p1")
    clock.advance(timedelta(minutes=1))
    return room, booking

"""On each backend, a command arriving after a deadline the scheduler has not recorded yet
decides as if it had: it records that deadline's consequence in its own save, never a
different outcome, and the scheduler then records nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from commands.clock import ManualClock
from commands.service import BookingService
from domain.availability import weekly_hours
from domain.booking import CONFIRMATION, SESSION_END
from domain.errors import BookingError

MEMBER, PROVIDER = "maya", "dr-okafor"
AS_MEMBER, AS_PROVIDER = f"member:{MEMBER}", f"provider:{PROVIDER}"
START = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)


@pytest.fixture
def room(service: BookingService) -> str:
    opened = service.open_room(MEMBER, PROVIDER, actor="system:test")
    service.publish_availability(PROVIDER, weekly_hours("UTC", "08:00", "18:00"), actor=AS_PROVIDER)
    service.add_credits(MEMBER, "purchase", 1, "order-1", actor="system:billing")
    return str(opened["room_id"])


def test_a_reservation_after_an_unrecorded_expiry_takes_the_released_credit(
    service: BookingService, clock: ManualClock, room: str
) -> None:
    expired = service.reserve_session(room, START, 45, "video", actor=AS_MEMBER)
    clock.set(datetime.fromisoformat(expired["confirm_by"]))
    later = service.reserve_session(room, START + timedelta(days=2), 45, "video", actor=AS_MEMBER)
    assert later["status"] == "pending_confirmation"
    assert service.get_booking(expired["booking_id"]).status == "expired"
    assert (service.get_account(MEMBER).credit("c1") or {})["booking_id"] == later["booking_id"]
    head = service.recorder.max_notification_id()
    assert (
        service.record_deadline(expired["booking_id"], CONFIRMATION, expired["confirm_by"])["recorded"]
        is False
    )
    assert service.recorder.max_notification_id() == head


def test_an_unrecorded_member_no_show_is_forfeited_before_an_operator_revokes_it(
    service: BookingService, clock: ManualClock, room: str
) -> None:
    booking = service.reserve_session(room, START, 45, "video", actor=AS_MEMBER)
    service.confirm_session(booking["booking_id"], actor=AS_PROVIDER)
    clock.set(START + timedelta(minutes=45 + 30))
    with pytest.raises(BookingError) as refusal:
        service.complete_session(booking["booking_id"], actor=AS_PROVIDER)
    assert refusal.value.code == "invalid_transition"
    revoked = service.revoke_forfeit(booking["booking_id"], "platform outage", actor="operator:olga")
    assert revoked["status"] == "no_show"
    assert revoked["balance"] == {"available": 1, "held": 0, "consumed": 0, "forfeited": 0}
    due = service.get_booking(booking["booking_id"]).session_end_due
    assert service.record_deadline(booking["booking_id"], SESSION_END, due)["recorded"] is False

"""The member's story, played through the real service, for the audit tests.

Maya books a session with Dr Okafor, who confirms; she reschedules (free), Dr Okafor confirms
again; inside 48 hours she cancels accepting the forfeit; an operator revokes the forfeit.
A second booking is never confirmed and expires at its confirmation deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from commands.clock import ManualClock
from commands.service import BookingService
from domain.availability import weekly_hours
from domain.booking import CONFIRMATION

MEMBER, PROVIDER = "maya", "dr-okafor"
ALL_WEEK = weekly_hours("UTC", "08:00", "18:00")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FIRST_START = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
MOVED_START = datetime(2026, 3, 9, 11, 0, tzinfo=UTC)
SECOND_START = datetime(2026, 3, 12, 14, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Story:
    room_id: str
    booking_id: str
    second_booking_id: str
    instants: dict[str, datetime]


def play_story(app: BookingService, clock: ManualClock) -> Story:
    clock.set(T0)
    seen: dict[str, datetime] = {}
    room = app.open_room(MEMBER, PROVIDER, actor="system:test")
    app.publish_availability(PROVIDER, ALL_WEEK, actor=f"provider:{PROVIDER}")
    app.add_credits(MEMBER, "purchase", 1, "order-1", actor=f"member:{MEMBER}")
    seen["reserved"] = clock.advance(timedelta(minutes=5))
    booking_id = app.reserve_session(room["room_id"], FIRST_START, 45, "video", actor=f"member:{MEMBER}")[
        "booking_id"
    ]
    seen["confirmed"] = clock.advance(timedelta(hours=1))
    app.confirm_session(booking_id, actor=f"provider:{PROVIDER}")
    seen["rescheduled"] = clock.advance(timedelta(hours=2))
    app.reschedule_session(booking_id, MOVED_START, actor=f"member:{MEMBER}")
    seen["reconfirmed"] = clock.advance(timedelta(hours=1))
    app.confirm_session(booking_id, actor=f"provider:{PROVIDER}")
    seen["cancelled"] = MOVED_START - timedelta(hours=20)
    clock.set(seen["cancelled"])
    app.cancel_session(booking_id, "work trip", accept_forfeit=True, actor=f"member:{MEMBER}")
    seen["revoked"] = clock.advance(timedelta(hours=1))
    app.revoke_forfeit(booking_id, "train strike", actor="operator:olga")
    second = app.reserve_session(room["room_id"], SECOND_START, 30, "chat", actor=f"member:{MEMBER}")
    seen["expired"] = datetime.fromisoformat(second["confirm_by"])
    clock.set(seen["expired"])
    app.record_deadline(second["booking_id"], CONFIRMATION, second["confirm_by"])
    return Story(room["room_id"], booking_id, second["booking_id"], seen)

"""Two services on one database, interleaved: each caches aggregates the other then changes.
A stale cache must never lose the other's change, refuse a command wrongly, or answer a query
with old state (run on SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from commands.clock import ManualClock
from commands.service import BookingService
from domain.availability import weekly_hours
from domain.errors import BookingError

MEMBER, PROVIDER = "maya", "dr-okafor"
AS_MEMBER, AS_PROVIDER = f"member:{MEMBER}", f"provider:{PROVIDER}"
FRIDAY_10 = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)


@pytest.fixture
def room(two_services: tuple[BookingService, BookingService]) -> str:
    first, _ = two_services
    first.publish_availability(PROVIDER, weekly_hours("UTC", "00:00", "24:00"), actor=AS_PROVIDER)
    return str(first.open_room(MEMBER, PROVIDER)["room_id"])


def test_a_credit_released_elsewhere_is_used_not_refused(
    two_services: tuple[BookingService, BookingService], room: str
) -> None:
    first, second = two_services
    first.add_credits(MEMBER, "purchase", 1, "order-1")
    booking = first.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER)["booking_id"]
    # The first service caches the account with its only credit held; the second frees it.
    second.cancel_session(booking, actor=AS_MEMBER)
    again = first.reserve_session(room, FRIDAY_10 + timedelta(hours=2), 45, "video", actor=AS_MEMBER)
    assert again["status"] == "pending_confirmation"
    assert second.get_account(MEMBER).balance() == {"available": 0, "held": 1, "consumed": 0, "forfeited": 0}


def test_a_slot_freed_elsewhere_can_be_booked_and_one_taken_elsewhere_is_refused(
    two_services: tuple[BookingService, BookingService], room: str
) -> None:
    first, second = two_services
    first.add_credits(MEMBER, "purchase", 3, "order-1")
    taken = first.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER)["booking_id"]
    second.decline_session(taken, actor=AS_PROVIDER)  # the first's calendar still holds the slot
    assert first.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER)["status"] == (
        "pending_confirmation"
    )
    later = FRIDAY_10 + timedelta(hours=3)
    second.reserve_session(room, later, 45, "video", actor=AS_MEMBER)  # the first's calendar lacks it
    with pytest.raises(BookingError) as refusal:
        first.reserve_session(room, later + timedelta(minutes=15), 45, "video", actor=AS_MEMBER)
    assert refusal.value.code == "slot_unavailable"
    assert len(second.get_calendar(PROVIDER).slots) == 2


def test_a_change_that_needs_no_write_on_a_stale_aggregate_is_decided_on_fresh_state(
    two_services: tuple[BookingService, BookingService], room: str
) -> None:
    first, second = two_services
    first.add_credits(MEMBER, "purchase", 1, "order-1")
    first.get_calendar(PROVIDER)  # cached before the slot is held elsewhere
    booking = second.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER)["booking_id"]
    assert first.get_account(MEMBER).balance()["held"] == 1  # the account is current again
    # Cancelling releases the slot; on the first's stale calendar there would be none to release.
    first.cancel_session(booking, actor=AS_MEMBER)
    assert second.get_calendar(PROVIDER).slots == {}
    assert first.get_calendar(PROVIDER).slots == {}
    assert second.available_starts(PROVIDER, 45, FRIDAY_10, FRIDAY_10) == [FRIDAY_10]


def test_queries_never_answer_from_a_stale_cache(
    two_services: tuple[BookingService, BookingService], room: str
) -> None:
    first, second = two_services
    first.add_credits(MEMBER, "purchase", 1, "order-1")
    assert first.get_account(MEMBER).balance()["available"] == 1
    second.add_credits(MEMBER, "insurance", 2, "auth-7")
    assert first.get_account(MEMBER).balance()["available"] == 3
    booking = first.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER)["booking_id"]
    second.confirm_session(booking, actor=AS_PROVIDER)
    assert first.get_booking(booking).status == "confirmed"
    assert FRIDAY_10 not in first.available_starts(PROVIDER, 45, FRIDAY_10, FRIDAY_10)


def test_interleaved_commands_of_two_services_lose_nothing(
    two_services: tuple[BookingService, BookingService], room: str, clock: ManualClock
) -> None:
    rng = random.Random(12)
    services = list(two_services)
    services[0].add_credits(MEMBER, "purchase", 5, "order-1")
    live: list[str] = []
    added, cancelled = 5, 0
    for step in range(40):
        service = rng.choice(services)
        choice = rng.random()
        if choice < 0.25:
            service.add_credits(MEMBER, "employer", 1, f"grant-{step}")
            added += 1
        elif choice < 0.6 or not live:
            start = FRIDAY_10 + timedelta(hours=step)
            try:
                live.append(service.reserve_session(room, start, 45, "video", actor=AS_MEMBER)["booking_id"])
            except BookingError as refusal:
                # Refused only when truly out of credits, judged by the other service's view.
                assert refusal.code == "no_credit_available"
                assert rng.choice(services).get_account(MEMBER).balance()["available"] == 0
        else:
            service.cancel_session(live.pop(rng.randrange(len(live))), actor=AS_MEMBER)
            cancelled += 1
    for service in services:
        balance = service.get_account(MEMBER).balance()
        assert balance == {"available": added - len(live), "held": len(live), "consumed": 0, "forfeited": 0}
        assert sorted(service.get_calendar(PROVIDER).slots) == sorted(live)
    assert cancelled > 0

"""The scenario suite through BookingService, run once on a SQLite file and once on PostgreSQL
(the ``service`` fixture is parametrised over both backends)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.booking import CONFIRMATION, FREE_CANCELLATION, SESSION_END
from domain.credits import CreditAccount
from domain.errors import BookingError
from domain.policy import Policy
from tests.integration.support import head, refused

MEMBER, PROVIDER = "maya", "dr-okafor"
AS_MEMBER, AS_PROVIDER = f"member:{MEMBER}", f"provider:{PROVIDER}"
LONDON_WEEKDAYS = {
    "timezone": "Europe/London",
    "weekly": [
        {"weekday": d, "start": "09:00", "end": "17:00"}
        for d in ("monday", "tuesday", "wednesday", "thursday", "friday")
    ],
}
FRIDAY_10 = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)  # 10:00 GMT


@pytest.fixture
def room(service: BookingService) -> str:
    opened = service.open_room(MEMBER, PROVIDER, actor="system:test")
    service.publish_availability(PROVIDER, LONDON_WEEKDAYS, actor=AS_PROVIDER)
    return str(opened["room_id"])


def balance(service: BookingService, member: str = MEMBER) -> dict[str, int]:
    return service.get_account(member).balance()


# --- the member's story ----------------------------------------------------------------------


def test_the_members_story_from_booking_to_final_balances(
    service: BookingService, clock: ManualClock, room: str
) -> None:
    bought = service.add_credits(MEMBER, "purchase", 1, "order-1", actor=AS_MEMBER)
    assert bought["balance"] == {"available": 1, "held": 0, "consumed": 0, "forfeited": 0}
    options = service.available_starts(
        PROVIDER, 45, FRIDAY_10 - timedelta(hours=1), FRIDAY_10 + timedelta(hours=1)
    )
    assert options[0] == datetime(2026, 3, 6, 9, 0, tzinfo=UTC) and FRIDAY_10 in options

    booking = service.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER)
    booking_id = booking["booking_id"]
    assert booking["status"] == "pending_confirmation"
    assert (booking["confirm_by"], booking["free_until"]) == ("2026-03-05T10:00:00Z", "2026-03-04T10:00:00Z")
    assert booking["position"] == head(service)
    assert FRIDAY_10 not in service.available_starts(PROVIDER, 45, FRIDAY_10, FRIDAY_10)
    assert service.confirm_session(booking_id, actor=AS_PROVIDER)["status"] == "confirmed"

    clock.advance(timedelta(hours=2))
    later = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    moved = service.reschedule_session(booking_id, later, actor=AS_MEMBER)
    assert (moved["status"], moved["starts_at"]) == ("pending_confirmation", "2026-03-10T14:00:00Z")
    assert balance(service) == {"available": 0, "held": 1, "consumed": 0, "forfeited": 0}
    service.confirm_session(booking_id, actor=AS_PROVIDER)

    clock.set(datetime(2026, 3, 9, 12, 0, tzinfo=UTC))  # inside 48 hours of the new start
    review = service.review_policy(booking_id)
    assert (review["cancel"], review["requires_accept_forfeit"]) == ("forfeit", True)
    refusal = refused(
        service, "forfeit_not_acknowledged", lambda: service.cancel_session(booking_id, actor=AS_MEMBER)
    )
    assert "2026-03-08T14:00:00Z" in refusal.message
    cancelled = service.cancel_session(booking_id, "cannot make it", accept_forfeit=True, actor=AS_MEMBER)
    assert cancelled["status"] == "cancelled"
    assert balance(service) == {"available": 0, "held": 0, "consumed": 0, "forfeited": 1}

    service.add_credits(MEMBER, "employer", 1, "acme", actor="system:benefits")
    second = service.reserve_session(
        room, datetime(2026, 3, 12, 9, 0, tzinfo=UTC), 60, "audio", actor=AS_MEMBER
    )
    clock.set(datetime(2026, 3, 11, 9, 0, tzinfo=UTC))
    expired = service.record_deadline(second["booking_id"], CONFIRMATION, second["confirm_by"])
    assert (expired["recorded"], expired["status"]) == (True, "expired")
    assert balance(service) == {"available": 1, "held": 0, "consumed": 0, "forfeited": 1}
    history: list[Any] = list(service.events.get(UUID(booking_id)))
    assert [type(e).__name__ for e in history] == [
        "SessionReserved",
        "ProviderConfirmed",
        "Rescheduled",
        "ProviderConfirmed",
        "Cancelled",
        "CreditForfeited",
    ]
    assert [e.actor for e in history] == [
        AS_MEMBER,
        AS_PROVIDER,
        AS_MEMBER,
        AS_PROVIDER,
        AS_MEMBER,
        AS_MEMBER,
    ]
    assert history[-1].timestamp == datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
    assert service.get_booking(booking_id, version=1).status == "pending_confirmation"


def test_a_completed_session_consumes_and_a_no_show_at_the_session_end_forfeits(
    service: BookingService, clock: ManualClock, room: str
) -> None:
    service.add_credits(MEMBER, "insurance", 2, "claim-7")
    first = service.reserve_session(room, FRIDAY_10, 30, "chat", actor=AS_MEMBER)["booking_id"]
    second = service.reserve_session(room, FRIDAY_10 + timedelta(hours=2), 30, "chat", actor=AS_MEMBER)
    for booking_id in (first, second["booking_id"]):
        service.confirm_session(booking_id, actor=AS_PROVIDER)
    clock.set(FRIDAY_10 + timedelta(minutes=5))
    service.record_member_joined(first, actor="platform:video")
    service.complete_session(first, actor=AS_PROVIDER)
    clock.set(FRIDAY_10 + timedelta(hours=4))
    ended = service.record_deadline(second["booking_id"], SESSION_END, FRIDAY_10 + timedelta(hours=3))
    assert (ended["recorded"], ended["status"]) == (True, "no_show")
    assert balance(service) == {"available": 0, "held": 0, "consumed": 1, "forfeited": 1}
    revoked = service.revoke_forfeit(second["booking_id"], "platform outage", actor="operator:olga")
    assert revoked["balance"] == {"available": 1, "held": 0, "consumed": 1, "forfeited": 0}
    refused(
        service,
        "invalid_transition",
        lambda: service.revoke_forfeit(second["booking_id"], "twice", actor="operator:olga"),
    )


def test_a_provider_no_show_and_a_decline_return_the_credit(
    service: BookingService, clock: ManualClock, room: str
) -> None:
    service.add_credits(MEMBER, "purchase", 2, "order-2")
    one = service.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER)["booking_id"]
    two = service.reserve_session(room, FRIDAY_10 + timedelta(hours=1), 45, "video", actor=AS_MEMBER)[
        "booking_id"
    ]
    service.decline_session(two, "on leave", actor=AS_PROVIDER)
    service.confirm_session(one, actor=AS_PROVIDER)
    clock.set(FRIDAY_10 + timedelta(minutes=20))
    assert service.report_no_show(one, "provider", actor=AS_MEMBER)["status"] == "no_show"
    assert balance(service) == {"available": 2, "held": 0, "consumed": 0, "forfeited": 0}


def test_stale_and_early_deadlines_write_nothing(
    service: BookingService, clock: ManualClock, room: str
) -> None:
    service.add_credits(MEMBER, "purchase", 1, "order-1")
    booking = service.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER)
    booking_id = booking["booking_id"]
    before = head(service)
    early = service.record_deadline(booking_id, FREE_CANCELLATION, booking["free_until"])
    assert early["recorded"] is False and head(service) == before
    service.reschedule_session(booking_id, FRIDAY_10 + timedelta(days=4), actor=AS_MEMBER)
    clock.set(FRIDAY_10)
    before = head(service)
    for kind, due in ((CONFIRMATION, booking["confirm_by"]), (FREE_CANCELLATION, booking["free_until"])):
        assert service.record_deadline(booking_id, kind, due)["recorded"] is False
    assert head(service) == before
    current = service.get_booking(booking_id)
    assert service.record_deadline(booking_id, FREE_CANCELLATION, current.free_until)["recorded"] is False
    clock.set(current.free_until)
    assert service.record_deadline(booking_id, FREE_CANCELLATION, current.free_until)["recorded"] is True
    assert service.record_deadline(booking_id, FREE_CANCELLATION, current.free_until)["recorded"] is False


def test_a_booking_keeps_its_policy_when_the_service_runs_with_other_numbers(
    service: BookingService, clock: ManualClock, room: str, database_url: str
) -> None:
    service.add_credits(MEMBER, "purchase", 1, "order-1")
    booking_id = service.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER)["booking_id"]
    stricter = Policy(
        free_cancel_window=timedelta(hours=96),
        confirm_window=timedelta(hours=30),
        min_notice=timedelta(hours=30),
    )
    other = BookingService(clock, stricter, env=event_store_env(database_url))
    try:
        other.confirm_session(booking_id, actor=AS_PROVIDER)
        clock.set(FRIDAY_10 - timedelta(hours=50))  # inside 96 h, outside 48 h
        review = other.review_policy(booking_id)
        assert (review["cancel"], review["policy_version"]) == ("free", Policy().version)
        assert other.cancel_session(booking_id, actor=AS_MEMBER)["status"] == "cancelled"
    finally:
        other.close()
    assert balance(service)["available"] == 1


# --- idempotency -----------------------------------------------------------------------------


def test_repeating_a_command_id_returns_the_first_outcome_and_writes_nothing(
    service: BookingService, room: str
) -> None:
    service.add_credits(MEMBER, "purchase", 2, "order-2", command_id="buy-1")
    assert (
        service.add_credits(MEMBER, "purchase", 2, "order-2", command_id="buy-1")["balance"]["available"] == 2
    )
    first = service.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER, command_id="res-1")
    written = head(service)
    again = service.reserve_session(
        room,
        FRIDAY_10.astimezone(ZoneInfo("Europe/Paris")),
        45,
        "video",
        actor=AS_MEMBER,
        command_id="res-1",
    )
    assert {k: v for k, v in again.items() if k != "position"} == {
        k: v for k, v in first.items() if k != "position"
    }
    assert head(service) == written
    assert balance(service) == {"available": 1, "held": 1, "consumed": 0, "forfeited": 0}
    confirmed = service.confirm_session(first["booking_id"], actor=AS_PROVIDER, command_id="conf-1")
    written = head(service)
    assert (
        service.confirm_session(first["booking_id"], actor=AS_PROVIDER, command_id="conf-1")["status"]
        == (confirmed["status"])
    )
    assert head(service) == written


def test_reusing_a_command_id_with_other_arguments_is_an_idempotency_conflict(
    service: BookingService, room: str
) -> None:
    service.add_credits(MEMBER, "purchase", 2, "order-2")
    first = service.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER, command_id="res-1")
    refused(
        service,
        "idempotency_conflict",
        lambda: service.reserve_session(
            room, FRIDAY_10 + timedelta(hours=1), 45, "video", actor=AS_MEMBER, command_id="res-1"
        ),
    )
    refused(
        service,
        "idempotency_conflict",
        lambda: service.reserve_session(room, FRIDAY_10, 45, "audio", actor=AS_MEMBER, command_id="res-1"),
    )
    refused(
        service,
        "idempotency_conflict",
        lambda: service.confirm_session(first["booking_id"], actor=AS_PROVIDER, command_id="res-1"),
    )
    assert balance(service)["held"] == 1


def test_a_refused_command_with_a_command_id_can_be_retried_once_it_would_succeed(
    service: BookingService, room: str
) -> None:
    refused(
        service,
        "no_credit_available",
        lambda: service.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER, command_id="res-1"),
    )
    service.add_credits(MEMBER, "purchase", 1, "order-1")
    assert (
        service.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER, command_id="res-1")["status"]
        == "pending_confirmation"
    )


@pytest.mark.parametrize("command_id", ["", "x" * 201])
def test_a_malformed_command_id_is_invalid_input(service: BookingService, room: str, command_id: str) -> None:
    refused(
        service,
        "invalid_input",
        lambda: service.add_credits(MEMBER, "purchase", 1, "order-1", command_id=command_id),
    )


# --- refusals at the edge write nothing -------------------------------------------------------


def test_unknown_ids_are_not_found(service: BookingService, room: str) -> None:
    service.add_credits(MEMBER, "purchase", 1, "order-1")
    missing = str(uuid4())
    for command in (
        lambda: service.reserve_session(missing, FRIDAY_10, 45, "video", actor=AS_MEMBER),
        lambda: service.reserve_session("not-a-uuid", FRIDAY_10, 45, "video", actor=AS_MEMBER),
        lambda: service.confirm_session(missing, actor=AS_PROVIDER),
        lambda: service.confirm_session(room, actor=AS_PROVIDER),  # a room is not a booking
        lambda: service.decline_session(missing, actor=AS_PROVIDER),
        lambda: service.reschedule_session(missing, FRIDAY_10, actor=AS_MEMBER),
        lambda: service.cancel_session("", actor=AS_MEMBER),
        lambda: service.record_member_joined(missing, actor="platform:video"),
        lambda: service.complete_session(missing, actor=AS_PROVIDER),
        lambda: service.report_no_show(missing, "member", actor=AS_PROVIDER),
        lambda: service.revoke_forfeit(missing, "", actor="operator:olga"),
        lambda: service.record_deadline(missing, CONFIRMATION, FRIDAY_10),
        lambda: service.review_policy(missing),
        lambda: service.get_room(str(CreditAccount.id_for(MEMBER))),  # an account is not a room
    ):
        refused(service, "not_found", command)


@pytest.mark.parametrize(
    "instant", [datetime(2026, 3, 6, 10, 0), "2026-03-06T10:00:00", "next friday", 1772791200]
)
def test_instants_without_an_offset_are_invalid_input(
    service: BookingService, room: str, instant: Any
) -> None:
    service.add_credits(MEMBER, "purchase", 1, "order-1")
    booking_id = service.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER)["booking_id"]
    for command in (
        lambda: service.reserve_session(room, instant, 45, "video", actor=AS_MEMBER),
        lambda: service.reschedule_session(booking_id, instant, actor=AS_MEMBER),
        lambda: service.record_deadline(booking_id, CONFIRMATION, instant),
        lambda: service.available_starts(PROVIDER, 45, instant, FRIDAY_10),
    ):
        error = refused(service, "invalid_input", command)
        assert "offset" in error.message or "ISO 8601" in error.message


def test_malformed_arguments_are_invalid_input_and_write_nothing(service: BookingService, room: str) -> None:
    service.add_credits(MEMBER, "purchase", 1, "order-1")
    booking_id = service.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER)["booking_id"]
    for command in (
        lambda: service.reserve_session(room, FRIDAY_10 + timedelta(hours=1), 40, "video", actor=AS_MEMBER),
        lambda: service.reserve_session(room, FRIDAY_10 + timedelta(hours=1), 45, "smoke", actor=AS_MEMBER),
        lambda: service.reserve_session(room, FRIDAY_10 + timedelta(hours=1), 45, "video", actor="maya"),
        lambda: service.cancel_session(booking_id, accept_forfeit="yes", actor=AS_MEMBER),  # type: ignore[arg-type]
        lambda: service.cancel_session(booking_id, reason=None, actor=AS_MEMBER),  # type: ignore[arg-type]
        lambda: service.decline_session(booking_id, "x" * 2001, actor=AS_PROVIDER),
        lambda: service.add_credits(MEMBER, "coupon", 1, "order-9"),
        lambda: service.add_credits(MEMBER, "purchase", 0, "order-9"),
        lambda: service.add_credits(MEMBER, "purchase", 1, " "),
        lambda: service.open_room("", PROVIDER),
        lambda: service.publish_availability(PROVIDER, {"timezone": "Nowhere/Land"}, actor=AS_PROVIDER),
        lambda: service.record_deadline(booking_id, "lunch", FRIDAY_10),
        lambda: service.available_starts(PROVIDER, 45, FRIDAY_10, FRIDAY_10 - timedelta(hours=1)),
    ):
        refused(service, "invalid_input", command)


def test_every_booking_rule_refusal_writes_nothing(
    service: BookingService, clock: ManualClock, room: str
) -> None:
    refused(
        service,
        "no_credit_available",
        lambda: service.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER),
    )
    service.add_credits(MEMBER, "purchase", 2, "order-2")
    booking_id = service.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER)["booking_id"]
    other = service.open_room("sam", PROVIDER)["room_id"]
    service.add_credits("sam", "purchase", 1, "order-s1")
    cases = {
        "slot_unavailable": lambda: service.reserve_session(
            other, FRIDAY_10 + timedelta(minutes=30), 30, "video", actor="member:sam"
        ),
        "too_late_to_book": lambda: service.reserve_session(
            room, datetime(2026, 3, 3, 8, 45, tzinfo=UTC), 45, "video", actor=AS_MEMBER
        ),
        "too_far_ahead": lambda: service.reserve_session(
            room, datetime(2026, 5, 4, 9, tzinfo=UTC), 45, "video", actor=AS_MEMBER
        ),
        "outside_availability": lambda: service.reserve_session(
            room, datetime(2026, 3, 7, 10, tzinfo=UTC), 45, "video", actor=AS_MEMBER
        ),
        "not_allowed": lambda: service.confirm_session(booking_id, actor=AS_MEMBER),
        "invalid_transition": lambda: service.complete_session(booking_id, actor=AS_PROVIDER),
    }
    for code, command in cases.items():
        refused(service, code, command)
    service.confirm_session(booking_id, actor=AS_PROVIDER)
    clock.set(datetime(2026, 3, 4, 10, 0, tzinfo=UTC))  # exactly free_until
    refused(
        service,
        "forfeit_not_acknowledged",
        lambda: service.reschedule_session(booking_id, FRIDAY_10 + timedelta(days=3), actor=AS_MEMBER),
    )
    assert balance(service) == {"available": 1, "held": 1, "consumed": 0, "forfeited": 0}


# --- retries ---------------------------------------------------------------------------------


class _Rivalled(BookingService):
    """Loses every race: a rival changes the member's account between load and save."""

    name = "booking"  # the library names a subclass's tables after the class otherwise
    rival: BookingService

    def _account(self, member_id: str, now: datetime) -> CreditAccount:
        account = super()._account(member_id, now)
        self.rival.add_credits(member_id, "employer", 1, f"rival-{uuid.uuid4()}")
        return account


@pytest.fixture
def rivalled(database_url: str, clock: ManualClock) -> Iterator[tuple[_Rivalled, BookingService]]:
    rival = BookingService(clock, env=event_store_env(database_url))
    loser = _Rivalled(clock, env=event_store_env(database_url))
    loser.rival = rival
    try:
        yield loser, rival
    finally:
        loser.close()
        rival.close()


def test_a_command_that_loses_every_race_gives_up_with_a_concurrency_conflict(
    rivalled: tuple[_Rivalled, BookingService],
) -> None:
    loser, rival = rivalled
    rival.add_credits(MEMBER, "purchase", 1, "order-1")
    room = rival.open_room(MEMBER, PROVIDER)["room_id"]
    rival.publish_availability(PROVIDER, LONDON_WEEKDAYS, actor=AS_PROVIDER)
    with pytest.raises(BookingError) as refusal:
        loser.reserve_session(room, FRIDAY_10, 45, "video", actor=AS_MEMBER)
    assert refusal.value.code == "concurrency_conflict"
    account = rival.get_account(MEMBER)
    assert account.balance()["held"] == 0
    assert rival.get_calendar(PROVIDER).slots == {}
    assert account.balance()["available"] == 1 + 12  # only the rival's writes were saved

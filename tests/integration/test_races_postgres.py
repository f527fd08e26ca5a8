"""Real threads racing on PostgreSQL: the calendar and the credit account are the consistency
boundaries, and a command id is written once however many callers repeat it at the same time.

Each race runs twice: with one BookingService shared by every thread, and with one
BookingService per thread (as separate API workers would have)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.availability import weekly_hours
from tests.integration.support import race

FRIDAY_10 = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
ALL_WEEK = weekly_hours("UTC", "08:00", "18:00")


class Services:
    """Hands each racing thread a service: the shared one, or its own instance."""

    def __init__(self, database_url: str, clock: ManualClock, shared: bool, threads: int) -> None:
        env = {**event_store_env(database_url), "POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "0"}
        self.main = BookingService(clock, env=event_store_env(database_url))
        self.per_thread = (
            [self.main] * threads if shared else [BookingService(clock, env=env) for _ in range(threads)]
        )

    def close(self) -> None:
        for service in {id(s): s for s in [self.main, *self.per_thread]}.values():
            service.close()


@pytest.fixture(params=["one shared service", "one service per thread"])
def services(
    request: pytest.FixtureRequest, postgres_url: str, clock: ManualClock
) -> Iterator[Callable[[int], Services]]:
    made: list[Services] = []

    def make(threads: int) -> Services:
        made.append(Services(postgres_url, clock, request.param == "one shared service", threads))
        return made[-1]

    yield make
    for s in made:
        s.close()


def event_counts(service: BookingService) -> Counter[str]:
    notifications = service.recorder.select_notifications(start=1, limit=1_000_000)
    return Counter(n.topic.rsplit(".", 1)[-1] for n in notifications)


def test_sixteen_members_racing_for_one_slot_get_exactly_one_booking(
    services: Callable[[int], Services],
) -> None:
    pool = services(16)
    main = pool.main
    main.publish_availability("pat", ALL_WEEK, actor="provider:pat")
    rooms = []
    for n in range(16):
        rooms.append(main.open_room(f"m{n}", "pat")["room_id"])
        main.add_credits(f"m{n}", "purchase", 1, "order-1")

    results = race(
        pool.per_thread,
        lambda s, i: s.reserve_session(rooms[i], FRIDAY_10, 45, "video", actor=f"member:m{i}"),
    )

    winners = [r for r in results if isinstance(r, dict)]
    assert len(winners) == 1, results
    assert sorted(r for r in results if not isinstance(r, dict)) == ["slot_unavailable"] * 15
    winner = winners[0]
    for n in range(16):
        expected = (
            {"available": 0, "held": 1}
            if rooms[n] == winner_room(main, winner)
            else {"available": 1, "held": 0}
        )
        assert main.get_account(f"m{n}").balance() == {**expected, "consumed": 0, "forfeited": 0}
    assert list(main.get_calendar("pat").slots) == [winner["booking_id"]]
    counts = event_counts(main)
    assert (counts["SessionReserved"], counts["SlotHeld"], counts["CreditHeld"]) == (1, 1, 1)


def winner_room(service: BookingService, outcome: dict[str, Any]) -> str:
    return str(service.get_booking(outcome["booking_id"]).room_id)


def test_a_member_with_one_credit_racing_for_two_slots_gets_exactly_one(
    services: Callable[[int], Services],
) -> None:
    pool = services(2)
    main = pool.main
    for provider in ("pat", "quinn"):
        main.publish_availability(provider, ALL_WEEK, actor=f"provider:{provider}")
    for round_ in range(5):
        member = f"solo{round_}"
        rooms = [main.open_room(member, provider)["room_id"] for provider in ("pat", "quinn")]
        main.add_credits(member, "purchase", 1, "order-1")
        start = FRIDAY_10.replace(hour=9 + round_)

        def reserve(
            s: BookingService, i: int, rooms: list[str] = rooms, start: datetime = start, member: str = member
        ) -> dict[str, Any]:
            return s.reserve_session(rooms[i], start, 60, "audio", actor=f"member:{member}")

        results = race(pool.per_thread, reserve)

        assert sorted(str(r.get("status")) if isinstance(r, dict) else r for r in results) == [
            "no_credit_available",
            "pending_confirmation",
        ], results
        assert main.get_account(member).balance() == {
            "available": 0,
            "held": 1,
            "consumed": 0,
            "forfeited": 0,
        }
        held = [
            b for p in ("pat", "quinn") for b, slot in main.get_calendar(p).slots.items() if slot[0] == start
        ]
        assert held == [next(r for r in results if isinstance(r, dict))["booking_id"]]
    assert event_counts(main)["SessionReserved"] == 5


def test_one_command_id_retried_by_eight_threads_at_once_is_written_once(
    services: Callable[[int], Services],
) -> None:
    pool = services(8)
    main = pool.main
    main.publish_availability("pat", ALL_WEEK, actor="provider:pat")
    room = main.open_room("mia", "pat")["room_id"]
    main.add_credits("mia", "purchase", 3, "order-1")
    before = event_counts(main)

    results = race(
        pool.per_thread,
        lambda s, i: s.reserve_session(
            room, FRIDAY_10, 30, "chat", actor="member:mia", command_id="reserve-once"
        ),
    )

    assert all(isinstance(r, dict) for r in results), results
    assert len({r["booking_id"] for r in results}) == 1
    assert {r["status"] for r in results} == {"pending_confirmation"}
    written = event_counts(main) - before
    assert written == Counter({"SessionReserved": 1, "CreditHeld": 1, "SlotHeld": 1, "CommandRecorded": 1})
    assert main.get_account("mia").balance() == {"available": 2, "held": 1, "consumed": 0, "forfeited": 0}

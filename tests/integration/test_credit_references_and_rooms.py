"""A payment reference adds credits once per member, and a member and a provider have one room:
through the service on SQLite and PostgreSQL, and racing with real threads on PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from tests.integration.support import head, race, refused

MEMBER, PROVIDER = "maya", "dr-okafor"


def event_counts(service: BookingService) -> Counter[str]:
    notifications = service.recorder.select_notifications(start=1, limit=1_000_000)
    return Counter(n.topic.rsplit(".", 1)[-1] for n in notifications)


# --- credits ---------------------------------------------------------------------------------


def test_a_repeated_reference_answers_the_first_outcome_and_adds_nothing(service: BookingService) -> None:
    first = service.add_credits(MEMBER, "purchase", 2, "order-1", actor=f"member:{MEMBER}")
    assert first["balance"]["available"] == 2
    service.add_credits(MEMBER, "purchase", 1, "order-2")
    before = head(service)
    for command_id in (None, "another-key", "yet-another-key"):
        again = service.add_credits(
            MEMBER, "purchase", 2, "order-1", actor="system:billing", command_id=command_id
        )
        assert {k: v for k, v in again.items() if k != "position"} == {
            k: v for k, v in first.items() if k != "position"
        }
        assert again["position"] >= first["position"]
    assert service.get_account(MEMBER).balance()["available"] == 3
    # only the command records of the keyed repeats were written, no credit
    assert head(service) == before + 2
    assert event_counts(service)["CreditsAdded"] == 2


def test_a_used_reference_with_another_count_or_source_is_refused(service: BookingService) -> None:
    service.add_credits(MEMBER, "insurance", 2, "claim-7", actor="system:billing")
    for source, count in (("insurance", 3), ("employer", 2), ("purchase", 2)):
        refusal = refused(
            service,
            "reference_conflict",
            lambda s=source, c=count: service.add_credits(  # type: ignore[misc]
                MEMBER, s, c, "claim-7", actor="system:billing", command_id=f"key-{s}-{c}"
            ),
        )
        assert "claim-7" in refusal.message and "2 insurance" in refusal.message
    assert service.get_account(MEMBER).balance()["available"] == 2


def test_a_reference_is_per_member(service: BookingService) -> None:
    service.add_credits(MEMBER, "purchase", 1, "order-1")
    service.add_credits("sam", "purchase", 3, "order-1")
    assert service.get_account(MEMBER).balance()["available"] == 1
    assert service.get_account("sam").balance()["available"] == 3


@pytest.mark.parametrize("source", ["insurance", "employer"])
def test_a_member_cannot_grant_themselves_credits_and_nothing_is_written(
    service: BookingService, source: str
) -> None:
    refused(
        service, "not_allowed", lambda: service.add_credits(MEMBER, source, 1, "x", actor=f"member:{MEMBER}")
    )
    service.add_credits(MEMBER, source, 1, "x", actor="operator:ops")
    assert service.get_account(MEMBER).balance()["available"] == 1


def test_an_addition_without_a_reference_is_refused_and_writes_nothing(service: BookingService) -> None:
    for reference in ("", "  ", "a\tb"):

        def add(reference: str = reference) -> Any:
            return service.add_credits(MEMBER, "purchase", 1, reference)

        refused(service, "invalid_input", add)


def test_a_refused_reference_repeat_writes_nothing_even_when_the_actor_is_not_allowed(
    service: BookingService,
) -> None:
    service.add_credits(MEMBER, "insurance", 1, "claim-1", actor="system:billing")
    refused(
        service,
        "not_allowed",
        lambda: service.add_credits(MEMBER, "insurance", 1, "claim-1", actor=f"member:{MEMBER}"),
    )


# --- rooms -----------------------------------------------------------------------------------


def test_opening_a_room_again_answers_the_same_room_and_writes_nothing(service: BookingService) -> None:
    first = service.open_room(MEMBER, PROVIDER, actor=f"member:{MEMBER}")
    assert first["created"] is True
    before = head(service)
    again = service.open_room(MEMBER, PROVIDER, actor="system:api")
    assert again["created"] is False and again["room_id"] == first["room_id"]
    assert again["position"] == before == head(service)
    other = service.open_room(MEMBER, "dr-lee")
    assert other["created"] is True and other["room_id"] != first["room_id"]
    assert event_counts(service)["RoomOpened"] == 2


def test_someone_else_may_not_open_or_find_a_members_room(service: BookingService) -> None:
    service.open_room(MEMBER, PROVIDER)
    refused(service, "not_allowed", lambda: service.open_room(MEMBER, PROVIDER, actor="member:sam"))
    refused(service, "not_allowed", lambda: service.open_room(MEMBER, PROVIDER, actor=f"provider:{PROVIDER}"))


# --- races on PostgreSQL -----------------------------------------------------------------------

THREADS = 8


@pytest.fixture
def racers(postgres_url: str, clock: ManualClock) -> Iterator[list[BookingService]]:
    """One service per thread, as separate API workers would have, with small pools."""
    env = {**event_store_env(postgres_url), "POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "2"}
    services = [BookingService(clock, env=env) for _ in range(THREADS)]
    try:
        yield services
    finally:
        for service in services:
            service.close()


def test_racing_additions_with_one_reference_add_exactly_once(racers: list[BookingService]) -> None:
    results = race(racers, lambda s, i: s.add_credits(MEMBER, "purchase", 5, "order-1", command_id=f"k{i}"))
    assert all(isinstance(r, dict) for r in results), results
    assert {r["balance"]["available"] for r in results} == {5}
    assert racers[0].get_account(MEMBER).balance()["available"] == 5
    counts = event_counts(racers[0])
    assert (counts["CreditsAdded"], counts["ReferenceUsed"]) == (1, 1)


def test_racing_additions_with_one_reference_and_different_counts_add_exactly_once(
    racers: list[BookingService],
) -> None:
    results = race(racers, lambda s, i: s.add_credits(MEMBER, "purchase", i + 1, "order-1"))
    added = [r for r in results if isinstance(r, dict)]
    assert len(added) == 1, results
    assert [r for r in results if not isinstance(r, dict)] == ["reference_conflict"] * (THREADS - 1)
    assert racers[0].get_account(MEMBER).balance()["available"] == added[0]["count"]
    assert event_counts(racers[0])["CreditsAdded"] == 1


def test_racing_twins_open_one_room(racers: list[BookingService]) -> None:
    results = race(racers, lambda s, i: s.open_room(MEMBER, PROVIDER))
    assert all(isinstance(r, dict) for r in results), results
    assert len({r["room_id"] for r in results}) == 1
    assert sum(r["created"] for r in results) == 1
    assert event_counts(racers[0])["RoomOpened"] == 1

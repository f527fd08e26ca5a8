"""A small in-memory world for domain tests: aggregates built directly, no store, no clock.

It keeps each aggregate's collected events so a test can replay them, and offers
``unchanged`` to prove that a refused command changed and recorded nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.domain import Aggregate

from domain.actors import Actor
from domain.availability import weekly_hours
from domain.booking import Booking
from domain.calendar import ProviderCalendar
from domain.credits import CreditAccount
from domain.errors import BookingError
from domain.policy import Policy
from domain.room import Room

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
"""The instant every world starts at: Monday 2 March 2026, 09:00 UTC."""

ALL_DAY_UTC = weekly_hours("UTC", "00:00", "24:00")
SYSTEM = Actor("system", "test")
OPERATOR = Actor("operator", "olga")


class World:
    """One provider's calendar and any number of members, each with a room and an account."""

    def __init__(
        self,
        policy: Policy | None = None,
        availability: dict[str, Any] | None = None,
        provider_id: str = "pat",
        now: datetime = MONDAY,
    ) -> None:
        self.policy = policy or Policy()
        self.now = now
        self.provider_id = provider_id
        self.provider = Actor("provider", provider_id)
        self.calendar = ProviderCalendar.open(provider_id, now)
        self.calendar.publish(availability or ALL_DAY_UTC, self.provider, now)
        self.rooms: dict[str, Room] = {}
        self.accounts: dict[str, CreditAccount] = {}
        self.history: dict[Any, list[Any]] = {}

    # building

    def member(self, member_id: str = "mia", credits: int = 1) -> Actor:
        self.rooms[member_id] = Room.open(member_id, self.provider_id, SYSTEM, self.now)
        account = CreditAccount.open(member_id, self.now)
        if credits:
            account.add("purchase", credits, f"order-{member_id}", SYSTEM, self.now)
        self.accounts[member_id] = account
        return Actor("member", member_id)

    def reserve(
        self, member_id: str, starts_at: datetime, length: int = 45, format: str = "video"
    ) -> Booking:
        return Booking.reserve(
            self.rooms[member_id],
            self.accounts[member_id],
            self.calendar,
            starts_at,
            length,
            format,
            self.policy,
            Actor("member", member_id),
            self.now,
        )

    def account_of(self, booking: Booking) -> CreditAccount:
        return self.accounts[booking.member_id]

    def at(self, instant: datetime) -> World:
        self.now = instant
        return self

    def advance(self, delta: timedelta) -> World:
        self.now += delta
        return self

    # recording

    def collect(self, *aggregates: Aggregate) -> list[Any]:
        """Move pending events into the world's history (what a save would store)."""
        collected = []
        for aggregate in aggregates:
            events = list(aggregate.collect_events())
            self.history.setdefault(aggregate.id, []).extend(events)
            collected.extend(events)
        return collected

    def collect_all(self, *bookings: Booking) -> list[Any]:
        return self.collect(self.calendar, *self.rooms.values(), *self.accounts.values(), *bookings)


def replay(events: list[Any]) -> Aggregate:
    """Rebuild an aggregate from its events with the library's own ``mutate``."""
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    assert aggregate is not None
    return aggregate


def state(aggregate: Aggregate) -> dict[str, Any]:
    return copy.deepcopy({k: v for k, v in vars(aggregate).items() if k != "_pending_events"})


@contextmanager
def unchanged(*aggregates: Aggregate, code: str) -> Iterator[pytest.ExceptionInfo[BookingError]]:
    """Expect a refusal with ``code`` that leaves every aggregate's state and pending events as they
    were; yields the refusal (its ``value`` once the block has run)."""
    before = [(state(a), list(a.pending_events)) for a in aggregates]
    with pytest.raises(BookingError) as refusal:
        yield refusal
    assert refusal.value.code == code, refusal.value.message
    assert refusal.value.message
    after = [(state(a), list(a.pending_events)) for a in aggregates]
    assert after == before

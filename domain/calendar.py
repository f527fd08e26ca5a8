"""ProviderCalendar: a provider's published availability and the slots held by bookings.

It is the consistency boundary that makes double-booking impossible: two reservations
racing for one slot both change this aggregate, so they conflict on its version and
exactly one is saved.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.actors import Actor, check_party_id
from domain.availability import Availability
from domain.errors import (
    InvalidInput,
    NotAllowed,
    OutsideAvailability,
    SlotUnavailable,
)
from domain.policy import Policy
from domain.time import iso


class ProviderCalendar(Aggregate):
    class CalendarOpened(Aggregate.Created):
        provider_id: str

    class AvailabilityPublished(Aggregate.Event):
        availability: dict[str, Any]
        actor: str

        def apply(self, calendar: ProviderCalendar) -> None:
            calendar.availability = self.availability

    class SlotHeld(Aggregate.Event):
        booking_id: str
        starts_at: datetime
        ends_at: datetime
        actor: str

        def apply(self, calendar: ProviderCalendar) -> None:
            calendar._unbook(self.booking_id)
            # Slots that surely ended before this instant can never overlap a new booking again.
            booked = calendar.booked
            while booked and booked[0][0] + timedelta(seconds=calendar.longest) <= self.timestamp:
                del booked[0]
            length = int((self.ends_at - self.starts_at).total_seconds())
            calendar.longest = max(calendar.longest, length)
            insort(booked, [self.starts_at, self.ends_at, self.booking_id], key=lambda slot: slot[0])

    class SlotReleased(Aggregate.Event):
        booking_id: str
        actor: str

        def apply(self, calendar: ProviderCalendar) -> None:
            calendar._unbook(self.booking_id)

    # 2: held slots as a list sorted by start (``booked``) instead of a dict by booking.
    class_version = 2

    def __init__(self, provider_id: str) -> None:
        self.provider_id = provider_id
        self.availability: dict[str, Any] | None = None
        # [starts_at, ends_at, booking_id] of every held slot not surely over, sorted by start;
        # ``longest`` (seconds) bounds how far before a start an overlapping slot can begin.
        self.booked: list[list[Any]] = []
        self.longest = 0

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        slots: dict[str, list[datetime]] = state.pop("slots")
        state["booked"] = sorted(([s, e, b] for b, (s, e) in slots.items()), key=lambda slot: slot[0])
        state["longest"] = max((int((e - s).total_seconds()) for s, e, _ in state["booked"]), default=0)

    @property
    def slots(self) -> dict[str, list[datetime]]:
        """Held slots by booking id (built on demand; the hot paths use ``overlapping``)."""
        return {b: [s, e] for s, e, b in self.booked}

    def holds(self, booking_id: str) -> bool:
        return any(slot[2] == booking_id for slot in self.booked)

    def _unbook(self, booking_id: str) -> None:
        for i, slot in enumerate(self.booked):
            if slot[2] == booking_id:
                del self.booked[i]
                return

    @staticmethod
    @lru_cache(maxsize=4096)  # asked on every command of the provider or member
    def id_for(provider_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"booking:provider-calendar:{provider_id}")

    @classmethod
    def open(cls, provider_id: str, now: datetime) -> ProviderCalendar:
        check_party_id(provider_id, "provider_id")
        return cls._create(
            cls.CalendarOpened, id=cls.id_for(provider_id), provider_id=provider_id, timestamp=now
        )

    # commands

    def publish(self, availability: dict[str, Any], actor: Actor, now: datetime) -> None:
        if actor.kind not in ("system", "operator") and not actor.is_("provider", self.provider_id):
            raise NotAllowed(f"{actor} may not publish availability for provider {self.provider_id}")
        parsed = Availability.from_dict(availability)
        self.trigger_event(
            self.AvailabilityPublished, availability=parsed.to_dict(), actor=str(actor), timestamp=now
        )

    def hold(
        self,
        booking_id: str,
        starts_at: datetime,
        ends_at: datetime,
        policy: Policy,
        actor: Actor,
        now: datetime,
    ) -> None:
        """Hold the slot, refusing it unless every booking rule holds (this is the one check)."""
        self.check_bookable(starts_at, ends_at, policy, now, ignoring=booking_id)
        self.trigger_event(
            self.SlotHeld,
            booking_id=booking_id,
            starts_at=starts_at,
            ends_at=ends_at,
            actor=str(actor),
            timestamp=now,
        )

    def release(self, booking_id: str, actor: Actor, now: datetime) -> None:
        if self.holds(booking_id):
            self.trigger_event(self.SlotReleased, booking_id=booking_id, actor=str(actor), timestamp=now)

    # rules and queries

    def check_bookable(
        self,
        starts_at: datetime,
        ends_at: datetime,
        policy: Policy,
        now: datetime,
        ignoring: str | None = None,
    ) -> None:
        policy.check_start(starts_at, now)
        if self.availability is None:
            raise OutsideAvailability(f"provider {self.provider_id} has published no availability")
        if not Availability.recorded(self.availability).contains(starts_at, ends_at):
            raise OutsideAvailability(
                f"{iso(starts_at)}-{iso(ends_at)} is outside provider {self.provider_id}'s "
                f"availability ({self.availability['timezone']})"
            )
        clash = next(self.overlapping(starts_at, ends_at, ignoring), None)
        if clash is not None:
            raise SlotUnavailable(
                f"provider {self.provider_id} already has a session from {iso(clash[0])} to {iso(clash[1])}"
            )

    def overlapping(
        self, starts_at: datetime, ends_at: datetime, ignoring: str | None = None
    ) -> Iterator[list[datetime]]:
        booked = self.booked
        first = bisect_left(booked, starts_at - timedelta(seconds=self.longest), key=lambda slot: slot[0])
        stop = bisect_left(booked, ends_at, key=lambda slot: slot[0])
        for slot_start, slot_end, booking_id in booked[first:stop]:
            if booking_id != ignoring and starts_at < slot_end:
                yield [slot_start, slot_end]

    def overlapping_bookings(
        self, starts_at: datetime, ends_at: datetime, ignoring: str | None = None
    ) -> list[str]:
        booked = self.booked
        first = bisect_left(booked, starts_at - timedelta(seconds=self.longest), key=lambda slot: slot[0])
        stop = bisect_left(booked, ends_at, key=lambda slot: slot[0])
        return [b for _, e, b in booked[first:stop] if b != ignoring and starts_at < e]

    def available_starts(
        self,
        length: timedelta,
        begin: datetime,
        end: datetime,
        policy: Policy,
        now: datetime,
        ignoring: str | None = None,
    ) -> list[datetime]:
        """Start instants a member could reserve right now, in ``[begin, end]``; with
        ``ignoring``, as if that booking's slot were free (its member is moving it)."""
        if self.availability is None:
            return []
        begin = max(begin, policy.earliest_start(now))
        end = min(end, now + policy.horizon)
        if begin > end:
            return []
        starts = Availability.recorded(self.availability).starts_between(begin, end, length, policy.slot_step)
        return [s for s in starts if next(self.overlapping(s, s + length, ignoring), None) is None]


def check_length(length_minutes: object, policy: Policy) -> timedelta:
    if (
        not isinstance(length_minutes, int)
        or isinstance(length_minutes, bool)
        or length_minutes not in policy.lengths
    ):
        raise InvalidInput(
            f"length_minutes must be one of {', '.join(map(str, policy.lengths))}; got {length_minutes!r}"
        )
    return timedelta(minutes=length_minutes)

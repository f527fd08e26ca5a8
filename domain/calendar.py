"""ProviderCalendar: a provider's published availability and the slots held by bookings.

It is the consistency boundary that makes double-booking impossible: two reservations
racing for one slot both change this aggregate, so they conflict on its version and
exactly one is saved.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
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
            # Slots that ended before this instant can never overlap a new booking again.
            calendar.slots = {
                b: s for b, s in calendar.slots.items() if s[1] > self.timestamp and b != self.booking_id
            }
            calendar.slots[self.booking_id] = [self.starts_at, self.ends_at]

    class SlotReleased(Aggregate.Event):
        booking_id: str
        actor: str

        def apply(self, calendar: ProviderCalendar) -> None:
            calendar.slots.pop(self.booking_id, None)

    def __init__(self, provider_id: str) -> None:
        self.provider_id = provider_id
        self.availability: dict[str, Any] | None = None
        self.slots: dict[str, list[datetime]] = {}

    @staticmethod
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
        if booking_id in self.slots:
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
        if not Availability.from_dict(self.availability).contains(starts_at, ends_at):
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
        for booking_id, slot in self.slots.items():
            if booking_id != ignoring and slot[0] < ends_at and starts_at < slot[1]:
                yield slot

    def overlapping_bookings(
        self, starts_at: datetime, ends_at: datetime, ignoring: str | None = None
    ) -> list[str]:
        return [b for b, s in self.slots.items() if b != ignoring and s[0] < ends_at and starts_at < s[1]]

    def available_starts(
        self, length: timedelta, begin: datetime, end: datetime, policy: Policy, now: datetime
    ) -> list[datetime]:
        """Start instants a member could reserve right now, in ``[begin, end]``."""
        if self.availability is None:
            return []
        begin = max(begin, policy.earliest_start(now))
        end = min(end, now + policy.horizon)
        if begin > end:
            return []
        starts = Availability.from_dict(self.availability).starts_between(
            begin, end, length, policy.slot_step
        )
        return [s for s in starts if next(self.overlapping(s, s + length), None) is None]


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

"""Internal event → public event (version 1). Pure: no I/O, no clock.

Which internal events are published, under which public type, and which parties a stream
belongs to (read from the stream's first event) are decided here and nowhere else. Events
not listed (the slot and ledger mirrors of booking events, idempotency records, webhook
administration) are never published; the feed moves past them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.utils import get_topic

from audit.log import plain
from domain.booking import Booking
from domain.calendar import ProviderCalendar
from domain.credits import CreditAccount
from domain.room import Room
from domain.time import iso
from feed.public import DATA_MODELS, SCHEMA_VERSION

EVENT_ID_NAMESPACE = uuid5(NAMESPACE_URL, "urn:live-session-booking:event")

_PUBLISHED: dict[type, str] = {
    **{
        cls: name
        for name in DATA_MODELS
        if isinstance(cls := getattr(Booking, name, None), type) and issubclass(cls, Booking.Event)
    },
    Room.RoomOpened: "RoomOpened",
    ProviderCalendar.AvailabilityPublished: "AvailabilityPublished",
    CreditAccount.CreditsAdded: "CreditsAdded",
}
PUBLISHED_TOPICS: dict[str, str] = {get_topic(cls): name for cls, name in _PUBLISHED.items()}
"""Stored topic → public type, for every published internal event."""

STREAM_STARTS = {
    get_topic(Booking.SessionReserved): "booking",
    get_topic(Room.RoomOpened): "room",
    get_topic(CreditAccount.AccountOpened): "account",
    get_topic(ProviderCalendar.CalendarOpened): "calendar",
}
"""The first event of each kind of stream whose events are published."""


@dataclass(frozen=True)
class Parties:
    """Who a stream belongs to; fixed by its first event, so safe to cache forever."""

    booking_id: str | None = None
    member_id: str | None = None
    provider_id: str | None = None
    room_id: str | None = None


def parties_of(first_event: Any) -> Parties:
    """The parties of a stream, from its first event."""
    stream = str(first_event.originator_id)
    if isinstance(first_event, Booking.SessionReserved):
        return Parties(stream, first_event.member_id, first_event.provider_id, first_event.room_id)
    if isinstance(first_event, Room.RoomOpened):
        return Parties(None, first_event.member_id, first_event.provider_id, stream)
    if isinstance(first_event, CreditAccount.AccountOpened):
        return Parties(member_id=first_event.member_id)
    if isinstance(first_event, ProviderCalendar.CalendarOpened):
        return Parties(provider_id=first_event.provider_id)
    return Parties()


def event_id(originator_id: UUID | str, originator_version: int) -> str:
    """The event's public id: the same for the same stored event, on every read and retry."""
    return str(uuid5(EVENT_ID_NAMESPACE, f"{originator_id}/{originator_version}"))


def public_type(event: Any) -> str | None:
    return _PUBLISHED.get(type(event))


def render(position: int, event: Any, parties: Parties) -> dict[str, Any]:
    """The public shape of a published internal event (see ``feed.public``)."""
    type_name = _PUBLISHED[type(event)]
    fields = DATA_MODELS[type_name].model_fields
    data = {name: plain(getattr(event, name)) for name in fields}
    return {
        "position": position,
        "id": event_id(event.originator_id, event.originator_version),
        "type": type_name,
        "schema_version": SCHEMA_VERSION,
        "occurred_at": iso(event.timestamp),
        "stream_id": str(event.originator_id),
        "stream_version": event.originator_version,
        "booking_id": parties.booking_id,
        "member_id": parties.member_id,
        "provider_id": parties.provider_id,
        "room_id": parties.room_id,
        "actor": str(getattr(event, "actor", "system:service")),
        "data": data,
    }

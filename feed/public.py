"""The public event shapes, version 1: what the feed and webhooks publish, per event type.

These models are the contract with integrators. They are declared here, field by field,
and filled by ``feed.render`` from the internal events, so changing an internal event
(adding a field, upcasting an old shape) never changes what is published. A change to a
shape here is a new public version: add a model, never edit one that was published.
``tests/unit/feed/test_public_shapes.py`` pins the JSON schema of version 1.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

SCHEMA_VERSION = 1

Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"}, examples=["2026-03-09T10:00:00Z"])]


class Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Empty(Data):
    """This event carries nothing beyond the envelope."""


class SessionReservedData(Data):
    starts_at: Instant
    ends_at: Instant
    length_minutes: int
    format: Literal["video", "audio", "chat"]
    confirm_by: Instant = Field(description="the provider must confirm before this instant")
    free_until: Instant = Field(description="a member cancel or reschedule is free before this instant")
    credit_id: str = Field(description="the member's credit held for this booking")
    policy_version: str


class ProviderDeclinedData(Data):
    reason: str


class DeadlineData(Data):
    due: Instant = Field(description="the deadline that fell due")


EffectiveAt = Annotated[
    Instant,
    Field(
        description="the instant the outcome took effect (its deadline, when the scheduler "
        "recorded it later); date money movements by it, not by occurred_at"
    ),
]


class ConfirmationExpiredData(DeadlineData):
    effective_at: EffectiveAt


class RescheduledData(Data):
    previous_starts_at: Instant
    starts_at: Instant
    ends_at: Instant
    confirm_by: Instant
    free_until: Instant
    free: bool = Field(description="false when the member acknowledged forfeiting the credit")
    credit_id: str = Field(description="the credit now held (a new one after a late reschedule)")


class CancelledData(Data):
    by: Literal["member", "provider"]
    free: bool = Field(description="true: the credit was released; false: it was forfeited")
    reason: str


class CreditForfeitedData(Data):
    credit_id: str
    reason: str = Field(examples=["late_cancel", "late_reschedule", "no_show"])
    effective_at: EffectiveAt


class SessionCompletedData(Data):
    credit_id: str = Field(description="the credit consumed")
    effective_at: EffectiveAt


class NoShowRecordedData(Data):
    absent_party: Literal["member", "provider"]
    effective_at: EffectiveAt


class ForfeitRevokedData(Data):
    credit_id: str = Field(description="the credit restored to the member")
    reason: str


class CancelledForMemberData(Data):
    reason: str = Field(description="why the operator cancelled for the member (always free)")


class ProposalMadeData(Data):
    proposal_id: str
    starts_at: Instant = Field(description="the start the provider proposes")
    ends_at: Instant
    expires_at: Instant = Field(description="the proposal can be accepted before this instant")


class ProposalAcceptedData(Data):
    proposal_id: str
    previous_starts_at: Instant
    starts_at: Instant
    ends_at: Instant
    confirm_by: Instant
    free_until: Instant
    credit_id: str = Field(description="the credit still held (never forfeited by an accepted proposal)")


class ProposalDeclinedData(Data):
    proposal_id: str


class OutsideAvailabilityChangedData(Data):
    outside_availability: bool = Field(
        description="true: the provider's hours no longer cover the session (the member's changes are free)"
    )


class SessionReminderDueData(Data):
    due: Instant
    starts_at: Instant


class AvailabilityPublishedData(Data):
    availability: dict[str, Any] = Field(
        description="timezone, weekly hours and exceptions, as the provider published them"
    )


class CreditsAddedData(Data):
    source: Literal["purchase", "insurance", "employer"]
    count: int
    reference: str


DATA_MODELS: dict[str, type[Data]] = {
    "SessionReserved": SessionReservedData,
    "ProviderConfirmed": Empty,
    "ProviderDeclined": ProviderDeclinedData,
    "ConfirmationExpired": ConfirmationExpiredData,
    "FreeCancellationClosed": DeadlineData,
    "SessionReminderDue": SessionReminderDueData,
    "Rescheduled": RescheduledData,
    "Cancelled": CancelledData,
    "CreditForfeited": CreditForfeitedData,
    "MemberJoined": Empty,
    "ProviderJoined": Empty,
    "CancelledForMember": CancelledForMemberData,
    "ProposalMade": ProposalMadeData,
    "ProposalAccepted": ProposalAcceptedData,
    "ProposalDeclined": ProposalDeclinedData,
    "OutsideAvailabilityChanged": OutsideAvailabilityChangedData,
    "SessionCompleted": SessionCompletedData,
    "NoShowRecorded": NoShowRecordedData,
    "ForfeitRevoked": ForfeitRevokedData,
    "RoomOpened": Empty,
    "AvailabilityPublished": AvailabilityPublishedData,
    "CreditsAdded": CreditsAddedData,
}
"""Every public event type and the model of its ``data``."""

PUBLIC_TYPES = tuple(DATA_MODELS)


class Envelope(BaseModel):
    """What every published event carries, whatever its type."""

    model_config = ConfigDict(extra="forbid")

    position: int = Field(description="the event's position in the log; ask for ?after=<position>")
    id: str = Field(description="the event's id, stable forever (also the webhook-id header)")
    schema_version: Literal[1] = Field(description="the version of this public shape")
    occurred_at: Instant
    stream_id: str = Field(description="the id of the booking, room, account or calendar it belongs to")
    stream_version: int = Field(description="the event's number within its stream, from 1")
    booking_id: str | None = None
    member_id: str | None = None
    provider_id: str | None = None
    room_id: str | None = None
    actor: str = Field(description="who caused it: member:<id>, provider:<id>, operator:<id>, system:<id>…")


def _event_model(type_name: str, data: type[Data]) -> type[Envelope]:
    return create_model(  # type: ignore[call-overload,no-any-return]
        f"{type_name}Event",
        __base__=Envelope,
        __doc__=f"A published `{type_name}` event.",
        __module__=__name__,
        type=(Literal[type_name], ...),  # type: ignore[arg-type]
        data=(data, ...),
    )


EVENT_MODELS: dict[str, type[Envelope]] = {
    name: _event_model(name, data) for name, data in DATA_MODELS.items()
}

PublicEvent = Annotated[Union[tuple(EVENT_MODELS.values())], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
"""Any published event: one schema per type, told apart by ``type`` (a discriminated union)."""


class EventPage(BaseModel):
    """A page of the feed."""

    events: list[PublicEvent]  # type: ignore[valid-type]
    next_after: int = Field(description="pass as ?after= to continue: past every event read, filtered or not")
    head: int = Field(description="the last position recorded when this page was read")


def validate_event(event: dict[str, Any]) -> Envelope:
    """Check a rendered event against its public model (raises ``pydantic.ValidationError``)."""
    return EVENT_MODELS[event["type"]].model_validate(event)

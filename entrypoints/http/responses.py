"""Response bodies: the declared shape of every successful answer, so generated clients are typed.

A resource names its own id ``id`` and every other resource it refers to ``<kind>_id``.
Instants are ISO 8601 strings in UTC with a ``Z``. The models allow extra fields, so an
answer may grow a field without breaking an older client.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Action = Literal["confirm", "decline", "reschedule", "cancel", "joined", "complete", "no-show"]
"""An action, spelled as the route segment that runs it (``domain.lifecycle.ACTIONS``)."""
Change = Literal["free", "forfeit", "not_allowed"]


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class Written(Answer):
    position: int | None = Field(
        description="the store's position of this write: pass it as ?after= to read your write"
    )


class Room(Written):
    id: str
    member_id: str
    provider_id: str
    created: bool = Field(True, description="false when the pair already had this room (answered with 200)")


class AvailabilityPublished(Written):
    provider_id: str
    availability: dict[str, Any]


class Balance(Answer):
    available: int
    held: int
    consumed: int
    forfeited: int


class CreditsAdded(Written):
    """The addition under ``reference``; a repeat of the reference answers this again."""

    member_id: str
    source: str | None = Field(
        None, description="absent only when replaying an answer recorded before payment references were kept"
    )
    count: int | None = None
    reference: str | None = None
    balance: Balance = Field(description="the member's balance right after this reference's addition")


class BookingChanged(Written):
    """What every booking command answers: the booking's state and deadlines after it."""

    id: str
    status: str
    starts_at: str
    ends_at: str
    confirm_by: str
    free_until: str
    policy_version: str


class ProposalMade(Written):
    """The provider's proposal: the member may accept it (the session moves there, confirmed,
    free) or decline it until ``expires_at``, unless another change of the booking comes first."""

    id: str
    booking_id: str
    starts_at: str
    ends_at: str
    expires_at: str = Field(description="from this instant the proposed start could no longer be booked")
    status: Literal["open", "expired"]


class Proposal(Answer):
    id: str
    starts_at: str
    ends_at: str
    expires_at: str
    status: Literal["open", "expired"]


class LastChange(Answer):
    event: str | None
    at: str | None


class RoomSession(Answer):
    booking_id: str
    status: str
    starts_at: str
    ends_at: str
    length_minutes: int
    format: str
    confirm_by: str
    free_until: str
    change_is_free: bool = Field(description="a member cancel or reschedule now would keep the credit")
    allowed_actions: list[Action] = Field(
        description="exactly the commands a party allowed to take them would have accepted at this instant"
    )
    joined_at: str | None
    provider_joined_at: str | None = Field(description="when the provider's presence was recorded")
    outside_availability: bool = Field(
        description="the provider's hours no longer cover this session: the member's changes are free"
    )
    proposal: Proposal | None = Field(description="the provider's latest proposal still unanswered, if any")
    policy_version: str


class RoomDetails(Answer):
    id: str
    member_id: str
    provider_id: str
    opened_at: str
    sessions: list[RoomSession]
    available_credits: int
    last_change: LastChange


class RoomSummary(Answer):
    id: str
    member_id: str
    provider_id: str
    opened_at: str


class Rooms(Answer):
    rooms: list[RoomSummary]


class CreditCounts(Answer):
    available: int
    held: int
    consumed: int
    forfeited: int
    restored: int


class CreditBalances(CreditCounts):
    member_id: str
    by_source: dict[str, CreditCounts]


class CreditLedger(Answer):
    """A member's ledger replayed from its events (``?as_of=``)."""

    member_id: str
    as_of: str
    version: int
    balance: Balance
    credits: Any
    movements: list[dict[str, Any]]


class AvailableStarts(Answer):
    provider_id: str
    length_minutes: int
    starts: list[str]


class BookingState(Answer):
    id: str
    room_id: str
    member_id: str
    provider_id: str
    status: str
    starts_at: str
    ends_at: str
    length_minutes: int
    format: str
    confirm_by: str
    free_until: str
    joined_at: str | None
    provider_joined_at: str | None = Field(description="when the provider's presence was recorded")
    outside_availability: bool = Field(
        description="the provider's hours no longer cover this session: the member's changes are free"
    )
    proposal: Proposal | None = Field(description="the provider's latest proposal still unanswered, if any")
    absent_party: str | None
    forfeited_credits: int
    restored_credits: int
    allowed_actions: list[Action] = Field(
        description="exactly the commands a party allowed to take them would have accepted at this instant"
    )
    policy_version: str
    version: int
    session_end_due: str
    free_cancellation_closed: str | None
    credit_id: str
    modified_on: str


class BookingAsOf(BookingState):
    """The booking replayed from its events up to an instant or version (``?as_of=``)."""

    as_of: str | int


class NotBookable(Answer):
    code: str
    detail: str


class PreviewStage(Answer):
    from_: str | None = Field(alias="from")
    until: str | None
    change: Change
    statement: str


class PolicyPreview(Answer):
    """For a prospective start and now: the deadlines, whether it can be booked now (and why
    not), and what a change would cost at each stage."""

    starts_at: str
    ends_at: str
    confirm_by: str
    free_until: str
    bookable_now: bool
    not_bookable: NotBookable | None
    policy_version: str
    stages: list[PreviewStage]
    statements: list[str]


class PolicyReview(Answer):
    """What a member cancel or reschedule would do now; with ``?starts_at=``, what
    rescheduling to that start would mean (``reschedule_to``)."""

    cancel: Change
    reschedule: Change
    allowed_actions: list[Action]
    reschedule_to: PolicyPreview | None = None
    change_is_free: bool
    why: str
    free_until: str
    confirm_by: str
    policy_version: str
    policy: str
    requires_accept_forfeit: bool


class PolicyInForce(Answer):
    version: str
    numbers: dict[str, Any]
    description: str


class HistoryEntry(Answer):
    stream: str
    version: int
    type: str
    aggregate: str = Field(description="the aggregate that recorded it: Booking or CreditAccount")
    at: str
    actor: str | None
    policy_version: str | None
    data: dict[str, Any]


class BookingHistory(Answer):
    booking_id: str
    room_id: str
    member_id: str
    provider_id: str
    policy_version: str
    events: list[HistoryEntry]


class ViewHealth(Answer):
    position: int
    lag: int
    stalled: bool
    error: str | None = Field(None, description="why the view cannot apply its next event (when stalled)")
    event_position: int | None = Field(None, description="the position of the event it cannot apply")
    event_type: str | None = None
    schema_version: str | None = Field(
        None, description="the version its live tables hold (null: written before versions were recorded)"
    )
    rebuilding: ViewRebuild | None = Field(
        None, description="while its live tables hold another version: the new one, built beside them"
    )


class ViewRebuild(Answer):
    schema_version: str = Field(description="the version being built (this release's)")
    position: int = Field(description="how far the new tables have replayed the events")
    progress: float = Field(description="position / head_position, from 0 to 1")


class Health(Answer):
    status: str = Field(
        description="ok; rebuilding (200) while a view's new version is built beside the tables that"
        " keep answering; stalled (503) when a view cannot apply an event"
    )
    version: str = Field(description="the release this process runs (booking --version)")
    database: str
    head_position: int
    projection_lag: dict[str, int] | None
    views: dict[str, ViewHealth] | None = None
    scheduler: dict[str, Any] | None = Field(
        None,
        description="the deadline scheduler: pending count, oldest overdue and last fire; from another"
        " process its last heartbeat (status beating, silent or absent)",
    )

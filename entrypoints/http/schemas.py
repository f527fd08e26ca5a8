"""Request bodies: strict, closed (unknown fields refused) and explicit about instants.

These models only check shape and type at the edge; the product's rules stay in the domain,
which checks again and has the last word.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from domain.errors import InvalidInput
from domain.time import iso, to_utc

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)
"""Instants outside these bounds are refused at the edge: no booking lies there, and date
arithmetic near the ends of the calendar would overflow."""

MAX_LENGTH_MINUTES = 24 * 60
"""No session is longer than a day; the policy's own list of lengths has the last word. A
larger number would overflow date arithmetic (a 500) before the domain could refuse it."""

MAX_POSITION = 2**63 - 1
"""Positions are the event store's notification ids (bigint): a larger one cannot be queried."""

LengthMinutes = Annotated[int, Field(ge=1, le=MAX_LENGTH_MINUTES, description="session length in minutes")]


def parse_instant(value: str, name: str) -> datetime:
    """An ISO 8601 instant with an offset, in UTC; ``InvalidInput`` naming ``name`` otherwise."""
    try:
        instant = to_utc(value, name)
    except OverflowError:
        instant = None
    if instant is None or not EARLIEST <= instant <= LATEST:
        raise InvalidInput(f"{name} must lie between {iso(EARLIEST)} and {iso(LATEST)}; got {value!r}")
    return instant


def _instant(value: str) -> str:
    try:
        return iso(parse_instant(value, "instant"))
    except InvalidInput as error:
        raise ValueError(error.message.replace("instant ", "", 1)) from None


Instant = Annotated[
    str,
    Field(max_length=64),
    AfterValidator(_instant),
    WithJsonSchema({"type": "string", "format": "date-time", "example": "2026-03-09T10:00:00Z"}),
]
"""An ISO 8601 instant that must carry a UTC offset; a naive one is refused naming its field."""

PRINTABLE_ID = r"^[^\x00-\x1f\x7f]+$"
"""Ids never carry control characters (PostgreSQL text cannot even hold NUL)."""

PATTERN_MEANINGS = {
    PRINTABLE_ID: "must not contain control characters",
    r"^[^:\x00-\x1f\x7f]+$": "must not contain ':' or control characters",
    r"^[^\x00]*$": "must not contain NUL characters",
    r"^[^\x00-\x1f\x7f]*$": "must not contain control characters",
    r"^\d{2}:\d{2}$": "must be a local time HH:MM",
    r"^\d{4}-\d{2}-\d{2}$": "must be a date YYYY-MM-DD",
}
"""Plain words for the patterns below, used in error details instead of the regular expression."""

PartyId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^:\x00-\x1f\x7f]+$")]
Text = Annotated[str, Field(max_length=2000, pattern=r"^[^\x00]*$")]
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
LocalTime = Annotated[str, Field(pattern=r"^\d{2}:\d{2}$", examples=["09:00"])]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class OpenRoom(Body):
    member_id: PartyId
    provider_id: PartyId


class WeeklyHours(Body):
    weekday: Weekday
    start: LocalTime
    end: LocalTime


class Window(Body):
    start: LocalTime
    end: LocalTime


class ExceptionDay(Body):
    date: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", examples=["2026-12-25"])]
    windows: Annotated[list[Window], Field(max_length=48)] = []


class PublishAvailability(Body):
    timezone: Annotated[
        str, Field(min_length=1, max_length=64, pattern=PRINTABLE_ID, examples=["Europe/London"])
    ]
    weekly: Annotated[list[WeeklyHours], Field(max_length=7 * 48)] = []
    exceptions: Annotated[list[ExceptionDay], Field(max_length=400)] = []


class AddCredits(Body):
    source: Literal["purchase", "insurance", "employer"]
    count: Annotated[int, Field(ge=1, le=1000)]
    reference: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            pattern=r"^[^\x00-\x1f\x7f]*$",
            description="the payment or authorisation id: it adds credits once per member",
            examples=["order-1842"],
        ),
    ]


class ReserveSession(Body):
    room_id: Annotated[str, Field(min_length=1, max_length=64, pattern=PRINTABLE_ID)]
    starts_at: Instant
    length_minutes: LengthMinutes
    format: Literal["video", "audio", "chat"]


class RescheduleSession(Body):
    starts_at: Instant
    accept_forfeit: bool = False


class ProposeStart(Body):
    starts_at: Instant


class CancelSession(Body):
    reason: Text = ""
    accept_forfeit: bool = False


class DeclineSession(Body):
    reason: Text = ""


class MemberJoined(Body):
    party: Literal["member", "provider"] = Field(
        "member",
        description=(
            "who is present: the member (the default; reported by the member or the platform) "
            "or the provider (reported by the provider or the platform)"
        ),
    )


class ReportNoShow(Body):
    absent_party: Literal["member", "provider"] = Field(description="the party that did not attend")


class RevokeForfeit(Body):
    reason: Annotated[str, Field(min_length=1, max_length=2000, pattern=r"^[^\x00]*$")]

"""Commands as data: one frozen dataclass per command of ``BookingService``.

A command's class names it (``ReserveSession`` is ``reserve_session``) and its fields are
exactly the arguments its idempotency fingerprint covers, so a command id repeated with other
arguments is refused. Construction normalises instants to UTC and checks the free-text and
flag arguments, so a malformed command never reaches a decision.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar

from domain.errors import InvalidInput
from domain.time import to_utc

MAX_TEXT = 2000


@dataclass(frozen=True)
class Command:
    """Base of every command: its ``name`` and its fingerprinted ``arguments``."""

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()

    fingerprint_names: ClassVar[dict[str, str]] = {}
    """Fields fingerprinted under another name: the name recorded before commands were data,
    so command ids recorded then keep replaying."""

    def arguments(self) -> dict[str, Any]:
        """The fields, by name: what the command's idempotency fingerprint covers."""
        names = self.fingerprint_names
        return {names.get(field.name, field.name): getattr(self, field.name) for field in fields(self)}

    def __post_init__(self) -> None:
        """Arguments are checked and normalised by what they are, alike in every command:
        instants to UTC, free text and flags checked, the actor as text (in field order, so
        the first bad argument is the one named)."""
        for field in fields(self):
            normalise = ARGUMENTS.get(field.name)
            if normalise is not None:
                self._set(field.name, normalise(getattr(self, field.name), field.name))

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)


@dataclass(frozen=True)
class OpenRoom(Command):
    member_id: str
    provider_id: str
    actor: str = "system:service"


@dataclass(frozen=True)
class PublishAvailability(Command):
    provider_id: str
    availability: dict[str, Any]
    actor: str = "system:service"


@dataclass(frozen=True)
class AddCredits(Command):
    member_id: str
    source: str
    count: int
    reference: str
    actor: str = "system:service"


@dataclass(frozen=True)
class ReserveSession(Command):
    room_id: str
    starts_at: datetime
    length_minutes: int
    format: str
    actor: str


@dataclass(frozen=True)
class ConfirmSession(Command):
    booking_id: str
    actor: str


@dataclass(frozen=True)
class DeclineSession(Command):
    booking_id: str
    reason: str
    actor: str


@dataclass(frozen=True)
class RescheduleSession(Command):
    booking_id: str
    starts_at: datetime
    accept_forfeit: bool
    actor: str


@dataclass(frozen=True)
class CancelSession(Command):
    booking_id: str
    reason: str
    accept_forfeit: bool
    actor: str


@dataclass(frozen=True)
class RecordMemberJoined(Command):
    booking_id: str
    actor: str


@dataclass(frozen=True)
class ProposeStart(Command):
    """The provider proposes another start for the booking."""

    booking_id: str
    starts_at: datetime
    actor: str


@dataclass(frozen=True)
class AcceptProposal(Command):
    booking_id: str
    proposal_id: str
    actor: str


@dataclass(frozen=True)
class DeclineProposal(Command):
    booking_id: str
    proposal_id: str
    actor: str


@dataclass(frozen=True)
class RecordProviderJoined(Command):
    """The provider's presence (a command of its own, so the member's join keeps its
    idempotency fingerprint)."""

    booking_id: str
    actor: str


@dataclass(frozen=True)
class CompleteSession(Command):
    booking_id: str
    actor: str


@dataclass(frozen=True)
class ReportNoShow(Command):
    booking_id: str
    absent_party: str
    actor: str


@dataclass(frozen=True)
class RevokeForfeit(Command):
    booking_id: str
    reason: str
    actor: str


@dataclass(frozen=True)
class RecordDeadline(Command):
    """The scheduler's command: records the deadline event only if it is still current."""

    booking_id: str
    kind: str
    due: datetime


def check_text(value: object, name: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT or "\x00" in value:
        raise InvalidInput(f"{name} must be a string of at most {MAX_TEXT} characters, without NUL")
    return value


def check_flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be true or false")
    return value


ARGUMENTS: dict[str, Callable[[Any, str], Any]] = {
    "starts_at": to_utc,
    "due": to_utc,
    "failing_since": to_utc,
    "reason": check_text,
    "accept_forfeit": check_flag,
    "actor": lambda actor, _name: str(actor),
}
"""How an argument of that name is checked and normalised, in whichever command it appears."""

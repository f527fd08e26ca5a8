"""The booking policy: its numbers, and the version that names them.

Each booking records the policy in force when it was reserved and decides with those
numbers for the rest of its life, so a later change of configuration never alters it.
"""

from __future__ import annotations

import hashlib
from dataclasses import InitVar, dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from domain.availability import on_grid
from domain.errors import OutsideAvailability, TooFarAhead, TooLateToBook
from domain.time import format_duration, iso, parse_duration

FORMATS = ("video", "audio", "chat")
UNRECORDED: dict[str, str] = {
    "join_opens_before": "PT15M",
    "provider_late_grace": "PT0S",
    "member_late_grace": "PT0S",
    "min_confirm_time": "PT0S",
    "reminder_lead": "PT0S",
}
"""For each number added after the first release, the value that reproduces what a booking
recorded without it did under the release that recorded it: a provider could be reported
absent from the start (no late grace), so could the member, any start with enough notice could be reserved or
rescheduled to (no minimum time to confirm), and no reminder was ever due. A booking decides
with the numbers it recorded, so these fill the gaps, never today's configured defaults
(``join_opens_before`` was recorded by every release; 15 minutes is what each one read)."""
_RECORDED: dict[str, Policy] = {}  # see Policy.recorded


@dataclass(frozen=True)
class Policy:
    free_cancel_window: timedelta = timedelta(hours=48)
    confirm_window: timedelta = timedelta(hours=24)
    min_notice: timedelta = timedelta(hours=24)
    horizon: timedelta = timedelta(days=60)
    no_show_grace: timedelta = timedelta(minutes=30)
    slot_step: timedelta = timedelta(minutes=15)
    lengths: tuple[int, ...] = (30, 45, 60)
    join_opens_before: timedelta = field(default=timedelta(minutes=15))
    provider_late_grace: timedelta = timedelta(minutes=15)
    member_late_grace: timedelta = timedelta(minutes=15)
    """The provider may report the member absent only from this long after the start."""
    min_confirm_time: timedelta = timedelta(hours=1)
    reminder_lead: timedelta = timedelta(hours=24)
    """``SessionReminderDue`` is recorded this long before a confirmed session; zero: never."""

    recorded_numbers: InitVar[bool] = False
    """True for numbers a booking recorded: they were valid under the rules of the release that
    recorded them, so later rules for *configured* numbers never judge them again (an old
    booking with a rule it predates must still load, not answer 500)."""

    def __post_init__(self, recorded_numbers: bool) -> None:
        if recorded_numbers:
            return
        for name in (
            "free_cancel_window",
            "confirm_window",
            "min_notice",
            "horizon",
            "no_show_grace",
            "join_opens_before",
            "provider_late_grace",
            "member_late_grace",
            "reminder_lead",
        ):
            if getattr(self, name) < timedelta(0):
                raise ValueError(f"{name} must not be negative")
        if self.min_confirm_time <= timedelta(0):
            raise ValueError("min_confirm_time must be positive, or a start could leave no time to confirm")
        if self.slot_step <= timedelta(0) or self.slot_step.total_seconds() % 60:
            raise ValueError("slot_step must be a positive whole number of minutes")
        if not self.lengths or any(n <= 0 for n in self.lengths):
            raise ValueError("lengths must be positive minutes")
        if self.min_notice < self.confirm_window:
            raise ValueError(
                "min_notice must be at least confirm_window, "
                "or a booking could be reserved past its confirmation deadline"
            )
        if self.horizon < self.confirm_window + self.min_confirm_time:
            raise ValueError(
                "horizon must be at least confirm_window + min_confirm_time, "
                "or no start could be offered that the provider has time to confirm"
            )
        if self.provider_late_grace >= timedelta(minutes=min(self.lengths)) + self.no_show_grace:
            raise ValueError(
                "provider_late_grace must be shorter than the shortest of lengths plus no_show_grace, "
                "or a provider could never be reported absent"
            )
        if self.member_late_grace >= timedelta(minutes=min(self.lengths)) + self.no_show_grace:
            raise ValueError(
                "member_late_grace must be shorter than the shortest of lengths plus no_show_grace, "
                "or a member could never be reported absent"
            )

    @cached_property
    def version(self) -> str:
        """A stable name for these numbers: equal numbers, equal version (worked out once:
        every reservation records it)."""
        digest = hashlib.sha256(repr(sorted(self.to_dict().items())).encode()).hexdigest()
        return f"policy-{digest[:12]}"

    def to_dict(self) -> dict[str, Any]:
        """The numbers as recorded: a new dict each time, formatted once."""
        return {**self._formatted, "lengths": list(self.lengths)}

    @cached_property
    def _formatted(self) -> dict[str, Any]:
        return {
            "free_cancel_window": format_duration(self.free_cancel_window),
            "confirm_window": format_duration(self.confirm_window),
            "min_notice": format_duration(self.min_notice),
            "horizon": format_duration(self.horizon),
            "no_show_grace": format_duration(self.no_show_grace),
            "slot_step": format_duration(self.slot_step),
            "lengths": list(self.lengths),
            "join_opens_before": format_duration(self.join_opens_before),
            "provider_late_grace": format_duration(self.provider_late_grace),
            "member_late_grace": format_duration(self.member_late_grace),
            "min_confirm_time": format_duration(self.min_confirm_time),
            "reminder_lead": format_duration(self.reminder_lead),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        """The numbers a booking recorded; one recorded before a number existed takes the value
        that reproduces its release's behaviour (``UNRECORDED``), never today's default."""
        numbers = with_unrecorded(data)
        durations = {k: parse_duration(v) for k, v in numbers.items() if k != "lengths"}
        return cls(lengths=tuple(int(n) for n in numbers["lengths"]), recorded_numbers=True, **durations)

    @classmethod
    def recorded(cls, version: str, numbers: dict[str, Any]) -> Policy:
        """The policy a booking recorded with its version: few versions exist and a version
        names its numbers, so each is parsed once (parsing is most of a booking's replay)."""
        policy = _RECORDED.get(version)
        if policy is None:
            policy = _RECORDED[version] = cls.from_dict(numbers)
        return policy

    def earliest_start(self, now: datetime) -> datetime:
        """The earliest start bookable at ``now``: enough notice, and time left to confirm."""
        return now + max(self.min_notice, self.confirm_window + self.min_confirm_time)

    def check_start(self, starts_at: datetime, now: datetime) -> None:
        """Refuse a start the timing rules forbid at ``now`` (availability is the calendar's)."""
        if starts_at - now < self.min_notice:
            raise TooLateToBook(
                f"{iso(starts_at)} is too soon: sessions must be booked at least "
                f"{span(self.min_notice)} ahead so the provider can confirm"
            )
        confirm_by = starts_at - self.confirm_window
        if confirm_by - now < self.min_confirm_time:
            raise TooLateToBook(
                f"{iso(starts_at)} is too soon: the provider would have to confirm by "
                f"{iso(confirm_by)}, less than {span(self.min_confirm_time)} from now"
            )
        if starts_at > now + self.horizon:
            raise TooFarAhead(
                f"{iso(starts_at)} is too far ahead: sessions can be booked at most "
                f"{span(self.horizon)} ahead"
            )
        if not on_grid(starts_at, self.slot_step):
            raise OutsideAvailability(
                f"{iso(starts_at)} is not on the {span(self.slot_step)} grid of start times"
            )

    def describe(self) -> str:
        return (
            f"Cancelling or rescheduling is free until {_hours(self.free_cancel_window)} "
            f"before the start; after that the session credit is forfeited. The provider "
            f"must confirm by {_hours(self.confirm_window)} before the start."
        )


def with_unrecorded(numbers: dict[str, Any]) -> dict[str, Any]:
    """``numbers`` as recorded, plus ``UNRECORDED``'s value for each number they lack (the one
    rule both the ``SessionReserved`` upcaster and ``Policy.from_dict`` fill by)."""
    return {**UNRECORDED, **numbers}


def _hours(value: timedelta) -> str:
    hours = value.total_seconds() / 3600
    return f"{hours:g} hours" if hours >= 1 else f"{value.total_seconds():g} seconds"


def span(value: timedelta) -> str:
    """A duration in words, in its largest whole unit: ``2 days``, ``90 minutes``."""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if (seconds % size == 0 and seconds >= size) or size == 1:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    raise AssertionError("unreachable")

"""The booking policy: its numbers, and the version that names them.

Each booking records the policy in force when it was reserved and decides with those
numbers for the rest of its life, so a later change of configuration never alters it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from domain.time import format_duration, parse_duration

FORMATS = ("video", "audio", "chat")


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

    def __post_init__(self) -> None:
        for name in (
            "free_cancel_window",
            "confirm_window",
            "min_notice",
            "horizon",
            "no_show_grace",
            "join_opens_before",
        ):
            if getattr(self, name) < timedelta(0):
                raise ValueError(f"{name} must not be negative")
        if self.slot_step <= timedelta(0) or self.slot_step.total_seconds() % 60:
            raise ValueError("slot_step must be a positive whole number of minutes")
        if not self.lengths or any(n <= 0 for n in self.lengths):
            raise ValueError("lengths must be positive minutes")
        if self.min_notice < self.confirm_window:
            raise ValueError(
                "min_notice must be at least confirm_window, "
                "or a booking could be reserved past its confirmation deadline"
            )

    @property
    def version(self) -> str:
        """A stable name for these numbers: equal numbers, equal version."""
        digest = hashlib.sha256(repr(sorted(self.to_dict().items())).encode()).hexdigest()
        return f"policy-{digest[:12]}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "free_cancel_window": format_duration(self.free_cancel_window),
            "confirm_window": format_duration(self.confirm_window),
            "min_notice": format_duration(self.min_notice),
            "horizon": format_duration(self.horizon),
            "no_show_grace": format_duration(self.no_show_grace),
            "slot_step": format_duration(self.slot_step),
            "lengths": list(self.lengths),
            "join_opens_before": format_duration(self.join_opens_before),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        durations = {k: parse_duration(v) for k, v in data.items() if k != "lengths"}
        return cls(lengths=tuple(int(n) for n in data["lengths"]), **durations)

    def describe(self) -> str:
        return (
            f"Cancelling or rescheduling is free until {_hours(self.free_cancel_window)} "
            f"before the start; after that the session credit is forfeited. The provider "
            f"must confirm by {_hours(self.confirm_window)} before the start."
        )


def _hours(value: timedelta) -> str:
    hours = value.total_seconds() / 3600
    return f"{hours:g} hours" if hours >= 1 else f"{value.total_seconds():g} seconds"

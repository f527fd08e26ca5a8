"""Instants and durations: timezone-aware UTC datetimes and ISO 8601 durations."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Protocol

from domain.errors import InvalidInput


class Clock(Protocol):
    """The source of "now"; injected everywhere so that time is never read inside the domain."""

    def now(self) -> datetime: ...


def to_utc(value: datetime | str, name: str) -> datetime:
    """Parse/normalise an instant; naive datetimes are refused because they name no instant."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{name} is not an ISO 8601 instant: {value!r}") from None
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name} must be an ISO 8601 instant with an offset")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(
            f"{name} has no UTC offset ({value.isoformat()}); send e.g. "
            f"{value.isoformat()}Z or {value.isoformat()}+01:00"
        )
    value = value.astimezone(UTC)
    if not EARLIEST <= value <= LATEST:
        raise InvalidInput(
            f"{name} must lie between {EARLIEST.year} and {LATEST.year}; got {value.isoformat()}"
        )
    return value


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """Parse an absolute ISO 8601 duration (weeks, days, hours, minutes, seconds).

    Years and months are refused: their length depends on the calendar, and policy
    durations must be absolute.
    """
    match = _DURATION.match(text.strip().upper())
    if not match or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise ValueError(f"not an ISO 8601 duration of weeks/days/hours/minutes/seconds: {text!r}")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    return timedelta(**parts)


def format_duration(value: timedelta) -> str:
    """Render a duration as ISO 8601 (days and time part), e.g. ``PT48H`` or ``P60D``."""
    total = int(value.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = "P" + (f"{days}D" if days else "")
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
    if clock:
        text += "T" + clock
    return text if text != "P" else "PT0S"


def iso(value: datetime) -> str:
    """The one rendering of an instant that leaves the domain: UTC with ``Z``."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

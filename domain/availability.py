"""A provider's published availability: weekly hours in an IANA zone, plus exceptions.

Windows are local wall-clock times; they are turned into UTC instants per date, so a
window keeps its local hours across DST changes while booked instants never move.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.errors import InvalidInput

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Window:
    """Local minutes since midnight, ``start < end <= 24*60``."""

    start: int
    end: int

    @classmethod
    def parse(cls, start: str, end: str) -> Window:
        window = cls(_minutes(start), _minutes(end))
        if window.start >= window.end:
            raise InvalidInput(f"availability window {start}-{end} must end after it starts")
        return window

    def instants(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        return _local_instant(day, self.start, zone), _local_instant(day, self.end, zone)

    def to_dict(self) -> dict[str, str]:
        return {"start": _hhmm(self.start), "end": _hhmm(self.end)}


@dataclass(frozen=True)
class Availability:
    timezone: str
    weekly: dict[int, tuple[Window, ...]]
    exceptions: dict[date, tuple[Window, ...]]
    # The stretches of the date ranges asked for so far (they depend on nothing else).
    _stretches: dict[tuple[date, date], list[tuple[datetime, datetime]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def recorded(cls, data: dict[str, Any]) -> Availability:
        """The parsed availability of a recorded one (as an event or snapshot stored it).

        A recorded availability is never edited, only replaced whole, and a calendar's copies
        share its inner lists: so the parse is remembered by those lists' identity (kept alive
        with it, so an id is never reused while remembered) and made once per publication and
        process, not once per command."""
        weekly, exceptions = data.get("weekly"), data.get("exceptions")
        key = (id(weekly), id(exceptions), data.get("timezone"))
        known = _RECORDED.get(key)
        if known is not None and known[0] is weekly and known[1] is exceptions:
            return known[2]
        parsed = cls.from_dict(data)
        if len(_RECORDED) >= RECORDED_KEPT:
            _RECORDED.clear()
        _RECORDED[key] = (weekly, exceptions, parsed)
        return parsed

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Availability:
        """Parse ``{timezone, weekly: [{weekday, start, end}], exceptions: [{date, windows}]}``."""
        if not isinstance(data, dict):
            raise InvalidInput("availability must be an object")
        timezone = data.get("timezone")
        _zone(timezone)
        weekly: dict[int, list[Window]] = {}
        for entry in data.get("weekly") or []:
            day = str(entry.get("weekday", "")).lower()
            if day not in WEEKDAYS:
                raise InvalidInput(f"weekday must be one of {', '.join(WEEKDAYS)}; got {day!r}")
            weekly.setdefault(WEEKDAYS.index(day), []).append(
                Window.parse(entry.get("start", ""), entry.get("end", ""))
            )
        exceptions: dict[date, tuple[Window, ...]] = {}
        for entry in data.get("exceptions") or []:
            try:
                day_ = date.fromisoformat(str(entry.get("date")))
            except ValueError:
                raise InvalidInput(f"exception date must be YYYY-MM-DD; got {entry.get('date')!r}") from None
            exceptions[day_] = tuple(
                Window.parse(w.get("start", ""), w.get("end", "")) for w in entry.get("windows") or []
            )
        return cls(
            timezone=str(timezone),
            weekly={k: tuple(v) for k, v in sorted(weekly.items())},
            exceptions=dict(sorted(exceptions.items())),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "weekly": [
                {"weekday": WEEKDAYS[day], **w.to_dict()}
                for day, windows in self.weekly.items()
                for w in windows
            ],
            "exceptions": [
                {"date": day.isoformat(), "windows": [w.to_dict() for w in windows]}
                for day, windows in self.exceptions.items()
            ],
        }

    def windows_on(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        zone = _zone(self.timezone)
        windows = self.exceptions.get(day, self.weekly.get(day.weekday(), ()))
        for window in windows:
            yield window.instants(day, zone)

    def stretches(self, first: date, last: date) -> list[tuple[datetime, datetime]]:
        """The available stretches of the local dates ``first`` to ``last``, in order.

        Windows that overlap or touch are one stretch, on one day (09:00-12:00 and 12:00-17:00)
        and across midnight (a day ending at 24:00 and the next starting at 00:00), so a session
        may run from one window into the next. Stretches at the ends of the range are cut there.
        """
        known = self._stretches.get((first, last))
        if known is not None:
            return known
        windows: list[tuple[datetime, datetime]] = []
        day = first
        while day <= last:
            windows.extend(w for w in self.windows_on(day) if w[0] < w[1])
            day += timedelta(days=1)
        merged: list[tuple[datetime, datetime]] = []
        for start, end in sorted(windows):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        if len(self._stretches) >= STRETCHES_KEPT:
            self._stretches.clear()
        self._stretches[(first, last)] = merged
        return merged

    def contains(self, starts_at: datetime, ends_at: datetime) -> bool:
        """Whether the whole session lies in one available stretch."""
        zone = _zone(self.timezone)
        first = starts_at.astimezone(zone).date() - timedelta(days=1)
        last = ends_at.astimezone(zone).date() + timedelta(days=1)
        return any(start <= starts_at and ends_at <= end for start, end in self.stretches(first, last))

    def starts_between(
        self, begin: datetime, end: datetime, length: timedelta, step: timedelta
    ) -> Iterator[datetime]:
        """Start instants in ``[begin, end]`` on the slot grid whose whole session lies in one
        available stretch, in order."""
        zone = _zone(self.timezone)
        first = begin.astimezone(zone).date() - timedelta(days=1)
        last = (end + length).astimezone(zone).date() + timedelta(days=1)
        for start, finish in self.stretches(first, last):
            candidate = align_up(max(start, begin), step)
            while candidate + length <= finish and candidate <= end:
                yield candidate
                candidate += step


RECORDED_KEPT = 1024  # parsed recorded availabilities remembered per process
STRETCHES_KEPT = 64  # date ranges remembered per parsed availability
_RECORDED: dict[tuple[int, int, object], tuple[object, object, Availability]] = {}

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def on_grid(instant: datetime, step: timedelta) -> bool:
    return (instant - EPOCH) % step == timedelta(0)


def align_up(instant: datetime, step: timedelta) -> datetime:
    remainder = (instant - EPOCH) % step
    return instant if not remainder else instant + (step - remainder)


HOST_DEPENDENT_ZONES = frozenset({"localtime", "Factory", "posixrules"})
"""Names in the zone database whose meaning depends on the host, not on the IANA rules."""


def _zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise InvalidInput("timezone must be an IANA zone name such as Europe/London")
    if name in HOST_DEPENDENT_ZONES or name.startswith(("posix/", "right/", "/")):
        raise InvalidInput(f"time zone {name!r} depends on the host; use an IANA name such as Europe/London")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown IANA time zone {name!r}") from None


def _minutes(text: object) -> int:
    try:
        hours, minutes = str(text).split(":")
        value = int(hours) * 60 + int(minutes)
        if len(hours) != 2 or len(minutes) != 2 or int(minutes) > 59 or not 0 <= value <= 1440:
            raise ValueError
    except ValueError:
        raise InvalidInput(f"time of day must be HH:MM between 00:00 and 24:00; got {text!r}") from None
    return value


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _local_instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time; 24:00 is the next day's midnight.

    A wall-clock time the clocks skip (spring forward, e.g. 01:30 when 01:00 jumps to 02:00)
    does not exist: it stands for the jump itself, the first instant whose wall-clock time is
    past it. A time the clocks pass twice (fall back) is its first occurrence.
    """
    if minutes == 1440:
        day, minutes = day + timedelta(days=1), 0
    wall = datetime.combine(day, time(minutes // 60, minutes % 60))
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if _wall(instant, zone) == wall:
        return instant
    return _end_of_gap(wall, zone)


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _end_of_gap(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant the clocks jump over the non-existent ``wall``: the first instant whose
    wall-clock time is later than ``wall`` (found by bisection over whole seconds)."""
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)  # read with the offset after
    after = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)  # read with the offset before
    low, high = min(before, after), max(before, after)
    while high - low > timedelta(seconds=1):
        middle = low + timedelta(seconds=(high - low).total_seconds() // 2)
        if _wall(middle, zone) > wall:
            high = middle
        else:
            low = middle
    return high


def weekly_hours(timezone: str, start: str, end: str, days: tuple[str, ...] = WEEKDAYS) -> dict[str, Any]:
    """The availability document for the same local hours on each of ``days``."""
    return {
        "timezone": timezone,
        "weekly": [{"weekday": day, "start": start, "end": end} for day in days],
        "exceptions": [],
    }

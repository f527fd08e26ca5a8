"""Record a long history fast: many members' stories built in memory and saved in bulk.

Each member gets a room with their own provider, two credits, a reservation that is
confirmed and then cancelled for free: 12 events that touch every view. Aggregates are
saved ``members_per_save`` members at a time (one transaction each), bypassing the
command handlers for speed but using the same domain methods.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commands.service import BookingService
from domain.actors import Actor
from domain.booking import Booking
from domain.calendar import ProviderCalendar
from domain.credits import CreditAccount
from domain.policy import Policy
from domain.room import Room

EVENTS_PER_MEMBER = 12
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
AVAILABILITY = {"timezone": "UTC", "weekly": [{"weekday": "friday", "start": "09:00", "end": "17:00"}]}


def record_history(app: BookingService, members: int, first: int = 0, members_per_save: int = 100) -> int:
    """Record ``members * EVENTS_PER_MEMBER`` events; return the last notification id."""
    policy, system, now = Policy(), Actor.parse("system:history"), START
    pending: list[object] = []
    last = 0
    for n in range(first, first + members):
        member, provider = f"member-{n}", f"provider-{n}"
        member_actor, provider_actor = Actor.parse(f"member:{member}"), Actor.parse(f"provider:{provider}")
        room = Room.open(member, provider, system, now)
        account = CreditAccount.open(member, now)
        account.add("purchase" if n % 3 else "employer", 2, f"order-{n}", system, now)
        calendar = ProviderCalendar.open(provider, now)
        calendar.publish(AVAILABILITY, system, now)
        starts_at = START + timedelta(days=4, hours=1 + n % 7)
        booking = Booking.reserve(room, account, calendar, starts_at, 30, "video", policy, member_actor, now)
        booking.confirm(provider_actor, now)
        booking.cancel(account, calendar, "", False, member_actor, now + timedelta(minutes=1))
        pending += [room, account, calendar, booking]
        if len(pending) >= 4 * members_per_save:
            last = _save(app, pending)
    if pending:
        last = _save(app, pending)
    return last


def _save(app: BookingService, aggregates: list[object]) -> int:
    recordings = app.save(*aggregates)  # type: ignore[arg-type]
    aggregates.clear()
    return max(r.notification.id for r in recordings)

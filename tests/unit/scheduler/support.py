"""Helpers for the scheduler's unit tests: an in-memory booking office and a listed-deadlines source.

``ListedDeadlines`` stands in for the pending-deadlines view: a plain list of
``PendingDeadline`` rows that a test fills from the bookings (as a caught-up view would) or
leaves behind on purpose (as a lagging view would).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from commands.clock import ManualClock
from commands.service import BookingService
from domain.availability import weekly_hours
from domain.policy import Policy
from projections.deadlines import PendingDeadline
from scheduler.process import DeadlineScheduler
from tests.polling import wait_until

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
START = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)  # Friday, 4 days and 1 hour after MONDAY
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PROVIDER = "dr-okafor"


class ListedDeadlines:
    """A list of pending deadlines with the two queries the scheduler makes of the view."""

    def __init__(self) -> None:
        self._rows: list[PendingDeadline] = []
        self._lock = threading.Lock()
        self.failures_to_serve = 0

    def pending_deadlines(self) -> list[PendingDeadline]:
        with self._lock:
            self._maybe_fail()
            return sorted(self._rows, key=lambda d: d.due)

    def pending_deadlines_due_before(self, instant: datetime) -> list[PendingDeadline]:
        with self._lock:
            self._maybe_fail()
            return sorted((d for d in self._rows if d.due < instant), key=lambda d: d.due)

    def add(self, *rows: PendingDeadline) -> None:
        with self._lock:
            self._rows.extend(rows)

    def list_current(self, service: BookingService, booking_id: str) -> None:
        """Replace a booking's rows with its current deadlines, as a caught-up view would."""
        booking = service.get_booking(booking_id)
        with self._lock:
            self._rows = [d for d in self._rows if d.booking_id != booking_id]
            self._rows.extend(
                PendingDeadline(booking_id, kind, due, booking.version)
                for kind, due in booking.pending_deadlines()
            )

    def _maybe_fail(self) -> None:
        if self.failures_to_serve > 0:
            self.failures_to_serve -= 1
            raise ConnectionError("the view is unreachable (test)")


class Office:
    """A booking service on the library's in-memory store, a manual clock and a listed view.

    Reminders are off unless a test's policy turns them on: these tests count the deadlines
    that decide a booking's fate (the reminder has its own tests)."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.clock = ManualClock(MONDAY)
        self.service = BookingService(self.clock, policy or Policy(reminder_lead=timedelta(0)))
        self.view = ListedDeadlines()
        self.service.publish_availability(
            PROVIDER,
            weekly_hours("UTC", "00:00", "24:00", WEEKDAYS),
            actor=f"provider:{PROVIDER}",
        )
        self._members = 0

    def book(self, start: datetime = START, *, confirm: bool = False, listed: bool = True) -> str:
        """Reserve a 45-minute session for a new member; list its deadlines unless told not to."""
        self._members += 1
        member = f"member-{self._members}"
        room = self.service.open_room(member, PROVIDER)["room_id"]
        self.service.add_credits(member, "purchase", 1, f"order-{uuid.uuid4()}", actor=f"member:{member}")
        booking_id = str(
            self.service.reserve_session(room, start, 45, "video", actor=f"member:{member}")["booking_id"]
        )
        if confirm:
            self.service.confirm_session(booking_id, actor=f"provider:{PROVIDER}")
        if listed:
            self.view.list_current(self.service, booking_id)
        return booking_id

    def member_of(self, booking_id: str) -> str:
        return self.service.get_booking(booking_id).member_id

    def event_names(self, booking_id: str) -> list[str]:
        events = self.service.repository.event_store.get(UUID(booking_id))
        return [type(e).__qualname__.rsplit(".", 1)[-1] for e in events]

    def scheduler(self, **options: Any) -> DeadlineScheduler:
        settings = {"refresh_interval": 0.05, "poll_interval": 0.01, "resync_interval": 0.5, **options}
        return DeadlineScheduler(self.service, self.view, self.clock, **settings)


@contextmanager
def running(*schedulers: DeadlineScheduler) -> Iterator[None]:
    for scheduler in schedulers:
        scheduler.start()
    try:
        yield
    finally:
        for scheduler in schedulers:
            scheduler.stop()


def settled(scheduler: DeadlineScheduler, polls: int = 2) -> dict[str, object]:
    """Wait until nothing is in flight and the due-poller has since looked at the clock ``polls``
    more times without handing anything out.

    After it returns, every deadline due by the clock has been fired and counted. Polls counted
    from before the last fire settled would not do: settling a booking's deadline makes its next
    one due, and that one is handed out only at the next poll.
    """
    while True:
        wait_until(lambda: scheduler.health()["in_flight"] == 0, what="the fires in flight to settle")
        quiet = scheduler.health()
        _wait_for_polls(scheduler, int(quiet["polls"]) + polls)
        health = scheduler.health()
        if quiet["in_flight"] == health["in_flight"] == 0 and health["fired"] == quiet["fired"]:
            return health


def _wait_for_polls(scheduler: DeadlineScheduler, polls: int) -> None:
    wait_until(lambda: int(scheduler.health()["polls"]) >= polls, what="the due-poller to look at the clock")


SECOND = timedelta(seconds=1)

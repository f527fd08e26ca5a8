"""Pending deadlines view: every deadline the scheduler still has to fire.

Applies Booking events only. It keeps, per booking, the state the deadline rule needs
(``domain.booking.current_deadlines``, the rule the booking itself decides by) and
rewrites the booking's deadline rows from it: rows vanish when the deadline event is
recorded or a confirm, decline, reschedule, cancel, completion or no-show makes them stale.
``booking_version`` is the version of the booking's latest event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from domain.booking import CONFIRMED, PENDING, Booking, current_deadlines, reminder_due
from domain.policy import Policy
from projections.buffer import RowBuffer
from projections.room_details import BOOKING_CHANGES, STATUS_AFTER
from projections.view import Handler, View


class PendingDeadlines(View):
    name = "pending_deadlines"

    def handlers(self) -> Mapping[type, Handler]:
        return {
            Booking.SessionReserved: self.session_reserved,
            **dict.fromkeys(BOOKING_CHANGES, self.booking_changed),
        }

    def start_batch(self) -> None:
        self.bookings = RowBuffer(self.tables[0], "booking_id", bulk=self.bulk)
        self.deadlines = RowBuffer(self.tables[1], "booking_id", bulk=self.bulk)

    def prefetch(self, conn: sa.Connection, events: Sequence[Any]) -> None:
        changed = {self.aggregate_id(e) for e in events if type(e) in BOOKING_CHANGES}
        self.bookings.prefetch(conn, changed - self.created_in(events, Booking.SessionReserved))

    def flush(self, conn: sa.Connection) -> None:
        for booking_id in self.bookings.touched:
            state = self.bookings.rows[booking_id][0]
            created = booking_id in self.bookings.created  # reserved in this batch: no rows yet
            write = self.deadlines.create if created else self.deadlines.put
            write(
                booking_id,
                [
                    {
                        "booking_id": booking_id,
                        "kind": kind,
                        "due": due,
                        "booking_version": state["booking_version"],
                    }
                    for kind, due in current_deadlines(
                        state["status"],
                        state["confirm_by"],
                        state["free_until"],
                        state["session_end_due"],
                        state["free_cancellation_closed"],
                        state["reminder_due"],
                        state["reminded_due"],
                    )
                ],
            )
        self.bookings.flush(conn)
        self.deadlines.flush(conn)

    def session_reserved(self, conn: sa.Connection, event: Booking.SessionReserved) -> None:
        policy = Policy.recorded(event.policy_version, event.policy)
        lead = policy.reminder_lead
        state = {
            "booking_id": self.aggregate_id(event),
            "status": PENDING,
            "confirm_by": event.confirm_by,
            "free_until": event.free_until,
            "session_end_due": event.session_end_due,
            "free_cancellation_closed": None,
            "reminder_lead_seconds": int(lead.total_seconds()),
            "reminder_due": reminder_due(event.starts_at, policy),
            "reminded_due": None,
            "booking_version": event.originator_version,
        }
        self.bookings.create(state["booking_id"], [state])

    def booking_changed(self, conn: sa.Connection, event: Any) -> None:
        booking_id = self.aggregate_id(event)
        state = self.bookings.one(conn, booking_id)
        if state is None:
            raise LookupError(f"{type(event).__name__} for booking {booking_id} before its reservation")
        state["booking_version"] = event.originator_version
        if type(event) in STATUS_AFTER:
            state["status"] = STATUS_AFTER[type(event)]
        elif isinstance(event, Booking.FreeCancellationClosed):
            state["free_cancellation_closed"] = event.due
        elif isinstance(event, Booking.SessionReminderDue):
            state["reminded_due"] = event.due
        elif isinstance(event, Booking.Rescheduled | Booking.ProposalAccepted):
            lead = timedelta(seconds=state["reminder_lead_seconds"])
            state.update(
                status=CONFIRMED if isinstance(event, Booking.ProposalAccepted) else PENDING,
                confirm_by=event.confirm_by,
                free_until=event.free_until,
                session_end_due=event.session_end_due,
                reminder_due=event.starts_at - lead if lead else None,
            )
        self.bookings.put(booking_id, [state])

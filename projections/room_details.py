"""Room details view: each room with its sessions, their state, deadlines and last change.

Applies Room and Booking events only. The status *now*, the allowed actions and whether
cancelling is free *now* are not stored (they depend on the clock); ``queries.ReadModels``
derives them at read time with the domain's rule, from the instants and policy stored here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from domain.booking import (
    CANCELLED,
    COMPLETED,
    CONFIRMED,
    DECLINED,
    EXPIRED,
    NO_SHOW,
    PENDING,
    Booking,
)
from domain.room import Room
from domain.time import iso
from projections.buffer import RowBuffer
from projections.view import Handler, View

STATUS_AFTER: dict[type, str] = {
    Booking.ProviderConfirmed: CONFIRMED,
    Booking.ProviderDeclined: DECLINED,
    Booking.ConfirmationExpired: EXPIRED,
    Booking.Cancelled: CANCELLED,
    Booking.CancelledForMember: CANCELLED,
    Booking.SessionCompleted: COMPLETED,
    Booking.NoShowRecorded: NO_SHOW,
}
BOOKING_CHANGES = (
    *STATUS_AFTER,
    Booking.FreeCancellationClosed,
    Booking.SessionReminderDue,
    Booking.Rescheduled,
    Booking.CreditForfeited,
    Booking.MemberJoined,
    Booking.ProviderJoined,
    Booking.ForfeitRevoked,
    Booking.ProposalMade,
    Booking.ProposalAccepted,
    Booking.ProposalDeclined,
    Booking.OutsideAvailabilityChanged,
)


class RoomDetails(View):
    name = "room_details"
    revision = 2  # 2: the provider's presence, proposals, sessions outside the provider's hours, credit ids

    def handlers(self) -> Mapping[type, Handler]:
        return {
            Room.RoomOpened: self.room_opened,
            Booking.SessionReserved: self.session_reserved,
            **dict.fromkeys(BOOKING_CHANGES, self.session_changed),
        }

    def start_batch(self) -> None:
        self.rooms = RowBuffer(self.tables[0], "room_id", bulk=self.bulk)
        self.sessions = RowBuffer(self.tables[1], "booking_id", bulk=self.bulk)

    def prefetch(self, conn: sa.Connection, events: Sequence[Any]) -> None:
        reserved = self.created_in(events, Booking.SessionReserved)
        changed = {self.aggregate_id(e) for e in events if type(e) in BOOKING_CHANGES}
        self.sessions.prefetch(conn, changed - reserved)
        rooms = {e.room_id for e in events if isinstance(e, Booking.SessionReserved)}
        rooms.update(row["room_id"] for rows in self.sessions.rows.values() for row in rows)
        self.rooms.prefetch(conn, rooms - self.created_in(events, Room.RoomOpened))

    def flush(self, conn: sa.Connection) -> None:
        self.rooms.flush(conn)
        self.sessions.flush(conn)

    def room_opened(self, conn: sa.Connection, event: Room.RoomOpened) -> None:
        room = {
            "room_id": self.aggregate_id(event),
            "member_id": event.member_id,
            "provider_id": event.provider_id,
            "opened_at": event.timestamp,
            "last_change_type": type(event).__name__,
            "last_change_at": event.timestamp,
        }
        self.rooms.create(room["room_id"], [room])

    def session_reserved(self, conn: sa.Connection, event: Booking.SessionReserved) -> None:
        session = {
            "booking_id": self.aggregate_id(event),
            "room_id": event.room_id,
            "member_id": event.member_id,
            "provider_id": event.provider_id,
            "status": PENDING,
            "starts_at": event.starts_at,
            "ends_at": event.ends_at,
            "length_minutes": event.length_minutes,
            "format": event.format,
            "confirm_by": event.confirm_by,
            "free_until": event.free_until,
            "session_end_due": event.session_end_due,
            "joined_at": None,
            "provider_joined_at": None,
            "outside_availability": False,
            "proposal": None,
            "credit_id": event.credit_id,
            "policy_version": event.policy_version,
            "policy": event.policy,
            **_last_change(event),
        }
        self.sessions.create(session["booking_id"], [session])
        self._room_changed(conn, event.room_id, event)

    def session_changed(self, conn: sa.Connection, event: Any) -> None:
        booking_id = self.aggregate_id(event)
        session = self.sessions.one(conn, booking_id)
        if session is None:
            raise LookupError(f"{type(event).__name__} for booking {booking_id} before its reservation")
        session.update(_last_change(event))
        if type(event) in STATUS_AFTER:
            session["status"] = STATUS_AFTER[type(event)]
            session["proposal"] = None  # any other change supersedes a proposal
        elif isinstance(event, Booking.Rescheduled | Booking.ProposalAccepted):
            session.update(
                status=CONFIRMED if isinstance(event, Booking.ProposalAccepted) else PENDING,
                starts_at=event.starts_at,
                ends_at=event.ends_at,
                confirm_by=event.confirm_by,
                free_until=event.free_until,
                session_end_due=event.session_end_due,
                joined_at=None,
                provider_joined_at=None,
                outside_availability=False,
                proposal=None,
                credit_id=event.credit_id,
            )
        elif isinstance(event, Booking.ProposalMade):
            session["proposal"] = {
                "id": event.proposal_id,
                "starts_at": iso(event.starts_at),
                "ends_at": iso(event.ends_at),
                "expires_at": iso(event.expires_at),
            }
        elif isinstance(event, Booking.ProposalDeclined):
            session["proposal"] = None
        elif isinstance(event, Booking.OutsideAvailabilityChanged):
            session["outside_availability"] = event.outside_availability
        elif isinstance(event, Booking.MemberJoined):
            session["joined_at"] = event.timestamp
        elif isinstance(event, Booking.ProviderJoined):
            session["provider_joined_at"] = event.timestamp
        self.sessions.put(booking_id, [session])
        self._room_changed(conn, session["room_id"], event)

    def _room_changed(self, conn: sa.Connection, room_id: str, event: Any) -> None:
        """The room's last change is its latest event, its sessions' included."""
        room = self.rooms.one(conn, room_id)
        if room is not None:
            room.update(last_change_type=type(event).__name__, last_change_at=event.timestamp)
            self.rooms.put(room_id, [room])


def _last_change(event: Any) -> dict[str, Any]:
    return {
        "booking_version": event.originator_version,
        "last_change_type": type(event).__name__,
        "last_change_at": event.timestamp,
        "last_change_by": event.actor,
    }

"""The one read shape of a booking: what ``GET /bookings/{id}`` answers, now or ``?as_of=`` a
past instant (the audit replays the events and renders the result the same way).

Pure rendering of an aggregate already loaded: it never loads, saves or reads a clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.booking import Booking
from domain.time import iso


def booking_read(booking: Booking, now: datetime) -> dict[str, Any]:
    """The booking as a resource at ``now``: its status and allowed actions then, its deadlines,
    and how many credits it forfeited and had restored."""

    def instant(value: datetime | None) -> str | None:
        return iso(value) if value is not None else None

    return {
        "id": str(booking.id),
        "room_id": booking.room_id,
        "member_id": booking.member_id,
        "provider_id": booking.provider_id,
        "status": booking.status_at(now),
        "starts_at": iso(booking.starts_at),
        "ends_at": iso(booking.ends_at),
        "length_minutes": booking.length_minutes,
        "format": booking.format,
        "confirm_by": iso(booking.confirm_by),
        "free_until": iso(booking.free_until),
        "session_end_due": iso(booking.session_end_due),
        "free_cancellation_closed": instant(booking.free_cancellation_closed),
        "credit_id": booking.credit_id,
        "joined_at": instant(booking.joined_at),
        "provider_joined_at": instant(booking.provider_joined_at),
        "outside_availability": booking.outside_availability,
        "proposal": _proposal(booking.proposal_at(now)),
        "absent_party": booking.absent_party,
        "forfeited_credits": len(booking.forfeited),
        "restored_credits": len(booking.restored),
        "allowed_actions": list(booking.allowed_actions(now)),
        "policy_version": booking.policy_version,
        "version": booking.version,
        "modified_on": iso(booking.modified_on),
    }


def _proposal(proposal: dict[str, Any] | None) -> dict[str, Any] | None:
    if proposal is None:
        return None
    return {k: iso(v) if isinstance(v, datetime) else v for k, v in proposal.items()}

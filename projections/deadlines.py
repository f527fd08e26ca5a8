"""PendingDeadline: one deadline the scheduler must fire, as the pending-deadlines view holds it.

Also the pure rule deciding which of a booking's deadlines are still current; it mirrors
``Booking.deadline_is_current`` and must never read the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.booking import CONFIRMATION, CONFIRMED, FREE_CANCELLATION, PENDING, REMINDER, SESSION_END


@dataclass(frozen=True)
class PendingDeadline:
    """A booking's deadline of ``kind`` falling due at ``due`` (aware UTC).

    ``booking_version`` is the booking's version when the row was last computed; a command
    issued for this deadline is still checked against the booking itself.
    """

    booking_id: str
    kind: str
    due: datetime
    booking_version: int


def current_deadlines(
    status: str,
    confirm_by: datetime,
    free_until: datetime,
    session_end_due: datetime,
    free_cancellation_closed: datetime | None,
    reminder_due: datetime | None = None,
    reminded_due: datetime | None = None,
) -> list[tuple[str, datetime]]:
    """The deadlines still to fire for a booking in this state, as (kind, due) pairs."""
    current: list[tuple[str, datetime]] = []
    if status == PENDING:
        current.append((CONFIRMATION, confirm_by))
    if status in (PENDING, CONFIRMED) and free_cancellation_closed != free_until:
        current.append((FREE_CANCELLATION, free_until))
    if status == CONFIRMED:
        current.append((SESSION_END, session_end_due))
    if status == CONFIRMED and reminder_due is not None and reminded_due != reminder_due:
        current.append((REMINDER, reminder_due))
    return current

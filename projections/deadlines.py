"""PendingDeadline: one deadline the scheduler must fire, as the pending-deadlines view holds it.

Which of a booking's deadlines are still current is ``domain.booking.current_deadlines``, the
rule the aggregate itself decides by.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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

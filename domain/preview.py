"""The cancellation policy for a prospective start, reviewed before booking or rescheduling.

Everything here follows from the policy's numbers, the start and ``now``; the same rules
decide when the booking is made (``Policy.check_start``) and later (``domain.lifecycle``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.errors import BookingError
from domain.policy import Policy, span
from domain.time import iso

RELEASES = (
    "If the provider declines, cancels, does not confirm in time, or does not show up, "
    "the credit is released: you never pay for the provider's failure."
)
NO_SHOW = "If you do not join a confirmed session, it is a no-show and the session credit is forfeited."


def preview(policy: Policy, starts_at: datetime, length: timedelta, now: datetime) -> dict[str, Any]:
    """What booking ``starts_at`` now would mean: its deadlines, whether it can be booked now,
    and what a cancel or reschedule would cost at each stage of its life."""
    confirm_by = starts_at - policy.confirm_window
    free_until = starts_at - policy.free_cancel_window
    refusal = _timing_refusal(policy, starts_at, now)
    return {
        "starts_at": iso(starts_at),
        "ends_at": iso(starts_at + length),
        "confirm_by": iso(confirm_by),
        "free_until": iso(free_until),
        "bookable_now": refusal is None,
        "not_bookable": refusal,
        "policy_version": policy.version,
        "stages": [
            {
                "from": None,
                "until": iso(free_until),
                "change": "free",
                "statement": f"Until {iso(free_until)} you can cancel or reschedule for free; "
                "your session credit is kept.",
            },
            {
                "from": iso(free_until),
                "until": iso(starts_at),
                "change": "forfeit",
                "statement": f"From {iso(free_until)} ({span(policy.free_cancel_window)} before the start) "
                "cancelling or rescheduling a confirmed session forfeits its session credit; "
                "while the provider has not confirmed, changes stay free.",
            },
            {
                "from": iso(starts_at),
                "until": None,
                "change": "not_allowed",
                "statement": "Once the session has started it can no longer be cancelled or rescheduled.",
            },
        ],
        "statements": [
            f"The provider must confirm by {iso(confirm_by)} ({span(policy.confirm_window)} "
            "before the start); unconfirmed by then, the reservation expires and the credit is released.",
            NO_SHOW,
            RELEASES,
        ],
    }


def _timing_refusal(policy: Policy, starts_at: datetime, now: datetime) -> dict[str, str] | None:
    try:
        policy.check_start(starts_at, now)
    except BookingError as refusal:
        return {"code": refusal.code, "detail": refusal.message}
    return None

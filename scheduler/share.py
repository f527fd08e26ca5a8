"""Which scheduler process fires which booking's deadlines, when several run at once.

Each ``booking schedule`` process fires the deadlines of the bookings it *owns* among the live
schedulers (those whose heartbeat is recent, see ``scheduler.heartbeat``). Ownership is
rendezvous (highest-random-weight) hashing: every scheduler id gets a weight for the booking,
a hash of the pair, and the heaviest owns it. Every process that sees the same live ids
computes the same owner, without talking to the others; and when a scheduler joins or leaves,
only the bookings it wins or held change owner (about ``1/N`` of them), the rest stay put.

The hash is BLAKE2b of the two ids, never Python's ``hash()``: that one is salted per process,
so two processes would disagree on every owner.

Owning is per booking, not per deadline, so a booking's deadlines stay with one process and are
recorded in due order (see ``DeadlineBook.take_due``).
"""

from __future__ import annotations

from collections.abc import Collection
from hashlib import blake2b


def weight(scheduler_id: str, booking_id: str) -> int:
    """The scheduler's weight for the booking: stable across processes, runs and machines."""
    digest = blake2b(f"{scheduler_id}\n{booking_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(booking_id: str, schedulers: Collection[str]) -> str:
    """The scheduler among ``schedulers`` that fires the booking's deadlines (ties, which need
    two equal 64-bit hashes, go to the larger id, so the answer never depends on order)."""
    if not schedulers:
        raise ValueError("no scheduler to own the booking")
    return max(schedulers, key=lambda scheduler_id: (weight(scheduler_id, booking_id), scheduler_id))

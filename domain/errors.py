"""Typed refusals. Each carries a stable machine ``code`` and a sentence a person understands."""

from __future__ import annotations


class BookingError(Exception):
    """Base of every refusal; ``code`` is stable and safe to branch on."""

    code = "booking_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(BookingError):
    code = "invalid_input"


class NotFound(BookingError):
    code = "not_found"


class NotAllowed(BookingError):
    code = "not_allowed"


class InvalidTransition(BookingError):
    code = "invalid_transition"


class SlotUnavailable(BookingError):
    code = "slot_unavailable"


class OutsideAvailability(BookingError):
    code = "outside_availability"


class TooLateToBook(BookingError):
    code = "too_late_to_book"


class TooFarAhead(BookingError):
    code = "too_far_ahead"


class NoCreditAvailable(BookingError):
    code = "no_credit_available"


class SameStart(BookingError):
    """A reschedule to the start the booking already has: it would change nothing the member
    asked for, yet undo the provider's confirmation (and, late, cost a credit)."""

    code = "same_start"


class ForfeitNotAcknowledged(BookingError):
    code = "forfeit_not_acknowledged"


class ReferenceConflict(BookingError):
    """A payment or authorisation reference was already used with another count or source."""

    code = "reference_conflict"


class IdempotencyConflict(BookingError):
    """A command id was reused with other arguments."""

    code = "idempotency_conflict"


class ConcurrencyConflict(BookingError):
    """Retries were exhausted while other writers kept changing the same aggregates."""

    code = "concurrency_conflict"


ERROR_TYPES: tuple[type[BookingError], ...] = (
    InvalidInput,
    NotFound,
    NotAllowed,
    InvalidTransition,
    SlotUnavailable,
    OutsideAvailability,
    TooLateToBook,
    TooFarAhead,
    NoCreditAvailable,
    SameStart,
    ForfeitNotAcknowledged,
    ReferenceConflict,
    IdempotencyConflict,
    ConcurrencyConflict,
)


class SnapshotOutdated(Exception):
    """An aggregate's snapshot is of a shape its events can rebuild but it cannot be upcast to:
    raised by an aggregate's ``upcast_vN_vM``; the snapshot is ignored and the aggregate is
    replayed from its events instead (snapshots are caches)."""

"""CreditAccount: one member's session-credit ledger.

It is the consistency boundary that makes overspending impossible: every credit has one
status at a time (available, held, consumed, forfeited), and two commands racing for the
last credit conflict on this aggregate's version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.actors import Actor, check_party_id
from domain.errors import InvalidInput, InvalidTransition, NoCreditAvailable, NotAllowed

SOURCES = ("purchase", "insurance", "employer")
STATUSES = ("available", "held", "consumed", "forfeited")
MAX_CREDITS_PER_COMMAND = 1000


class CreditAccount(Aggregate):
    class AccountOpened(Aggregate.Created):
        member_id: str

    class CreditsAdded(Aggregate.Event):
        source: str
        count: int
        reference: str
        actor: str

        def apply(self, account: CreditAccount) -> None:
            for _ in range(self.count):
                credit_id = f"c{len(account.credits) + 1}"
                account.credits[credit_id] = {
                    "source": self.source,
                    "status": "available",
                    "booking_id": None,
                }

    class CreditHeld(Aggregate.Event):
        credit_id: str
        booking_id: str
        actor: str
        confirm_by: datetime | None = None

        def apply(self, account: CreditAccount) -> None:
            account.credits[self.credit_id].update(status="held", booking_id=self.booking_id)
            account.hold_deadlines[self.credit_id] = getattr(self, "confirm_by", None)

    class CreditHoldMoved(Aggregate.Event):
        """The booking holding the credit moved: its new confirmation deadline."""

        credit_id: str
        booking_id: str
        confirm_by: datetime
        actor: str

        def apply(self, account: CreditAccount) -> None:
            account.hold_deadlines[self.credit_id] = self.confirm_by

    class CreditReleased(Aggregate.Event):
        credit_id: str
        booking_id: str
        actor: str

        def apply(self, account: CreditAccount) -> None:
            account.hold_deadlines.pop(self.credit_id, None)
            account.credits[self.credit_id].update(status="available", booking_id=None)

    class CreditConsumed(Aggregate.Event):
        credit_id: str
        booking_id: str
        actor: str

        def apply(self, account: CreditAccount) -> None:
            account.hold_deadlines.pop(self.credit_id, None)
            account.credits[self.credit_id]["status"] = "consumed"

    class CreditForfeited(Aggregate.Event):
        credit_id: str
        booking_id: str
        reason: str
        actor: str

        def apply(self, account: CreditAccount) -> None:
            account.hold_deadlines.pop(self.credit_id, None)
            account.credits[self.credit_id]["status"] = "forfeited"

    class CreditRestored(Aggregate.Event):
        credit_id: str
        booking_id: str
        reason: str
        actor: str

        def apply(self, account: CreditAccount) -> None:
            account.credits[self.credit_id].update(status="available", booking_id=None)

    def __init__(self, member_id: str) -> None:
        self.member_id = member_id
        self.credits: dict[str, dict[str, Any]] = {}
        self.hold_deadlines: dict[str, datetime | None] = {}
        """The confirmation deadline of the booking holding each held credit."""

    @staticmethod
    def id_for(member_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"booking:credit-account:{member_id}")

    @classmethod
    def open(cls, member_id: str, now: datetime) -> CreditAccount:
        check_party_id(member_id, "member_id")
        return cls._create(cls.AccountOpened, id=cls.id_for(member_id), member_id=member_id, timestamp=now)

    # commands

    def add(self, source: str, count: int, reference: str, actor: Actor, now: datetime) -> None:
        if source not in SOURCES:
            raise InvalidInput(f"source must be one of {', '.join(SOURCES)}; got {source!r}")
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_CREDITS_PER_COMMAND:
            raise InvalidInput(f"count must be a whole number from 1 to {MAX_CREDITS_PER_COMMAND}")
        if not isinstance(reference, str) or len(reference) > 200 or "\x00" in reference:
            raise InvalidInput("reference must be a string of at most 200 characters, without NUL")
        if actor.kind not in ("system", "operator") and not actor.is_("member", self.member_id):
            raise NotAllowed(f"{actor} may not add credits for member {self.member_id}")
        self.trigger_event(
            self.CreditsAdded,
            source=source,
            count=count,
            reference=reference,
            actor=str(actor),
            timestamp=now,
        )

    def hold(self, booking_id: str, confirm_by: datetime, actor: Actor, now: datetime) -> str:
        """Hold the oldest available credit for a booking and return its id.

        The hold remembers the booking's confirmation deadline, so that a later command can
        tell which held credits may already be free again (``holds_to_settle``)."""
        credit_id = self.first_available()
        if credit_id is None:
            raise NoCreditAvailable(
                f"member {self.member_id} has no available session credit; purchase one first"
            )
        self.trigger_event(
            self.CreditHeld,
            credit_id=credit_id,
            booking_id=booking_id,
            confirm_by=confirm_by,
            actor=str(actor),
            timestamp=now,
        )
        return credit_id

    def move_hold(
        self, credit_id: str, booking_id: str, confirm_by: datetime, actor: Actor, now: datetime
    ) -> None:
        self._check_held_for(credit_id, booking_id)
        self.trigger_event(
            self.CreditHoldMoved,
            credit_id=credit_id,
            booking_id=booking_id,
            confirm_by=confirm_by,
            actor=str(actor),
            timestamp=now,
        )

    def release(self, credit_id: str, booking_id: str, actor: Actor, now: datetime) -> None:
        self._check_held_for(credit_id, booking_id)
        self.trigger_event(
            self.CreditReleased,
            credit_id=credit_id,
            booking_id=booking_id,
            actor=str(actor),
            timestamp=now,
        )

    def consume(self, credit_id: str, booking_id: str, actor: Actor, now: datetime) -> None:
        self._check_held_for(credit_id, booking_id)
        self.trigger_event(
            self.CreditConsumed,
            credit_id=credit_id,
            booking_id=booking_id,
            actor=str(actor),
            timestamp=now,
        )

    def forfeit(self, credit_id: str, booking_id: str, reason: str, actor: Actor, now: datetime) -> None:
        self._check_held_for(credit_id, booking_id)
        self.trigger_event(
            self.CreditForfeited,
            credit_id=credit_id,
            booking_id=booking_id,
            reason=reason,
            actor=str(actor),
            timestamp=now,
        )

    def restore(self, credit_id: str, booking_id: str, reason: str, actor: Actor, now: datetime) -> None:
        credit = self.credits.get(credit_id)
        if not credit or credit["status"] != "forfeited" or credit["booking_id"] != booking_id:
            raise InvalidTransition(f"credit {credit_id} is not forfeited by booking {booking_id}")
        self.trigger_event(
            self.CreditRestored,
            credit_id=credit_id,
            booking_id=booking_id,
            reason=reason,
            actor=str(actor),
            timestamp=now,
        )

    # queries

    def first_available(self) -> str | None:
        return next((cid for cid, c in self.credits.items() if c["status"] == "available"), None)

    def holds_to_settle(self, now: datetime) -> list[str]:
        """Bookings holding a credit whose confirmation deadline has passed (or is unknown):
        they may have expired without the scheduler having recorded it yet."""
        return [
            self.credits[credit_id]["booking_id"]
            for credit_id, confirm_by in self.hold_deadlines.items()
            if confirm_by is None or confirm_by <= now
        ]

    def balance(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for credit in self.credits.values():
            counts[credit["status"]] += 1
        return counts

    def _check_held_for(self, credit_id: str, booking_id: str) -> None:
        credit = self.credits.get(credit_id)
        if not credit or credit["status"] != "held" or credit["booking_id"] != booking_id:
            raise InvalidTransition(f"credit {credit_id} is not held for booking {booking_id}")

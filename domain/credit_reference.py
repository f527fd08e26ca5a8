"""CreditReference: one payment or authorisation reference of one member, used once.

A reference adds credits once per member. Its id is derived from the member and the
reference, and it is saved in the same atomic save as the credits it added, so two additions
racing with one reference conflict on its version and exactly one adds. It keeps the first
addition's outcome, answered again to a repeat; the credit account itself stays free of this
history. Pure: no I/O, no clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.actors import Actor
from domain.errors import ReferenceConflict


class CreditReference(Aggregate):
    class ReferenceUsed(Aggregate.Created):
        member_id: str
        reference: str
        source: str
        count: int
        balance: dict[str, int]
        actor: str

    def __init__(
        self, member_id: str, reference: str, source: str, count: int, balance: dict[str, int], actor: str
    ) -> None:
        self.member_id = member_id
        self.reference = reference
        self.source = source
        self.count = count
        self.balance = balance

    @staticmethod
    def id_for(member_id: str, reference: str) -> UUID:
        """Member ids never contain ':', so the pair maps to one id."""
        return uuid5(NAMESPACE_URL, f"booking:credit-reference:{member_id}:{reference}")

    @classmethod
    def use(
        cls,
        member_id: str,
        reference: str,
        source: str,
        count: int,
        balance: dict[str, int],
        actor: Actor,
        now: datetime,
    ) -> CreditReference:
        """Record that ``reference`` added ``count`` ``source`` credits, leaving ``balance``."""
        return cls._create(
            cls.ReferenceUsed,
            id=cls.id_for(member_id, reference),
            member_id=member_id,
            reference=reference,
            source=source,
            count=count,
            balance=dict(balance),
            actor=str(actor),
            timestamp=now,
        )

    def check_repeat(self, source: str, count: int) -> None:
        """A repeat must add the same: otherwise it is another addition under a used reference."""
        if (source, count) != (self.source, self.count):
            raise ReferenceConflict(
                f"reference {self.reference!r} already added {self.count} {self.source} "
                f"credit(s) for member {self.member_id} on {self.created_on.date().isoformat()}; "
                f"it cannot also add {count} {source} credit(s): use a new reference"
            )

    def outcome(self) -> dict[str, Any]:
        """What the first addition answered."""
        return {
            "member_id": self.member_id,
            "source": self.source,
            "count": self.count,
            "reference": self.reference,
            "balance": dict(self.balance),
        }

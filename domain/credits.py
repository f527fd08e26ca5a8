"""CreditAccount: one member's session-credit ledger.

It is the consistency boundary that makes overspending impossible: every credit has one
status at a time (available, held, consumed, forfeited), and two commands racing for the
last credit conflict on this aggregate's version.

Its state is bounded by what is still open, never by the member's history: counts by source
and status, the available credits as runs of consecutive ids, and the held and the restorable
(forfeited) credits one by one. A consumed credit is only a count; the audit's full table of
every credit is ``ledger_credits``, folded from the events with the same ``CREDIT_MOVES``.
The one exception is history older than ``CreditReference``: the references of additions whose
use no ``CreditReference`` records (``unrecorded_references``), written before the upgrade
that started recording them and never after, so a repeat of such a reference still adds once.
State containers are changed at most one level deep (an element is replaced, never edited in
place), so a shallow copy of each container is a safe private copy of the aggregate.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.actors import Actor, check_party_id
from domain.errors import (
    InvalidInput,
    InvalidTransition,
    NoCreditAvailable,
    NotAllowed,
    ReferenceConflict,
    SnapshotOutdated,
)

SOURCES = ("purchase", "insurance", "employer")
STATUSES = ("available", "held", "consumed", "forfeited")
MAX_CREDITS_PER_COMMAND = 1000
MAX_REFERENCE = 200


def credit_number(credit_id: str) -> int:
    """``c17`` -> 17; anything else -> 0 (never a credit's number)."""
    return int(credit_id[1:]) if credit_id[:1] == "c" and credit_id[1:].isdigit() else 0


class CreditAccount(Aggregate):
    # 2: bounded state (counts, runs of available credits, held and restorable credits);
    # version-1 snapshots kept every credit in ``credits``.
    # 3: ``unrecorded_references``, known only from the events: older snapshots are replayed.
    class_version = 3

    class AccountOpened(Aggregate.Created):
        member_id: str

    class CreditsAdded(Aggregate.Event):
        source: str
        count: int
        reference: str
        actor: str
        reference_recorded: bool
        """Whether a ``CreditReference`` saved with this event records the reference's use."""

        # 2: ``reference_recorded``; releases before kept no record beside the event.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Some releases that wrote version 1 did save a CreditReference too; answering from
            # ``unrecorded_references`` is then never reached, as the record is looked up first.
            state["reference_recorded"] = False

        def apply(self, account: CreditAccount) -> None:
            if not self.reference_recorded and self.reference not in account.unrecorded_references:
                account.unrecorded_references[self.reference] = [self.source, self.count]
            first = account.added + 1
            account.added += self.count
            account._count(self.source, "available", self.count)
            account._make_available(first, account.added, self.source)

    class CreditHeld(Aggregate.Event):
        credit_id: str
        booking_id: str
        actor: str
        confirm_by: datetime | None = None
        """The holding booking's confirmation deadline; None: not recorded (unknown)."""

        # 2: ``confirm_by``; the first release did not record it.
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("confirm_by", None)  # unknown: ``holds_to_settle`` checks the booking

        def apply(self, account: CreditAccount) -> None:
            account._move(self.credit_id, CREDIT_MOVES[type(self)].enters, self.booking_id)
            account.hold_deadlines[self.credit_id] = self.confirm_by

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
            account._move(self.credit_id, CREDIT_MOVES[type(self)].enters, None)

    class CreditConsumed(Aggregate.Event):
        credit_id: str
        booking_id: str
        actor: str

        def apply(self, account: CreditAccount) -> None:
            account.hold_deadlines.pop(self.credit_id, None)
            account._move(self.credit_id, CREDIT_MOVES[type(self)].enters, self.booking_id)

    class CreditForfeited(Aggregate.Event):
        credit_id: str
        booking_id: str
        reason: str
        actor: str

        def apply(self, account: CreditAccount) -> None:
            account.hold_deadlines.pop(self.credit_id, None)
            account._move(self.credit_id, CREDIT_MOVES[type(self)].enters, self.booking_id)

    class CreditRestored(Aggregate.Event):
        credit_id: str
        booking_id: str
        reason: str
        actor: str

        def apply(self, account: CreditAccount) -> None:
            account._move(self.credit_id, CREDIT_MOVES[type(self)].enters, None)

    def __init__(self, member_id: str) -> None:
        self.member_id = member_id
        self.added = 0  # credits c1..c<added> exist
        self.counts: dict[str, int] = {}  # "source:status" -> how many credits
        self.available: list[list[Any]] = []  # [first, last, source] runs, ascending, disjoint
        self.held: dict[str, list[str]] = {}  # credit id -> [source, booking id]
        self.forfeited: dict[str, list[str]] = {}  # credit id -> [source, booking id] (restorable)
        self.hold_deadlines: dict[str, datetime | None] = {}
        """The confirmation deadline of the booking holding each held credit."""
        self.unrecorded_references: dict[str, list[Any]] = {}
        """reference -> [source, count] of its first addition, for additions recorded before
        ``CreditReference`` existed (see ``CreditsAdded.reference_recorded``)."""

    @staticmethod
    @lru_cache(maxsize=4096)  # asked on every command of the provider or member
    def id_for(member_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"booking:credit-account:{member_id}")

    @classmethod
    def open(cls, member_id: str, now: datetime) -> CreditAccount:
        check_party_id(member_id, "member_id")
        return cls._create(cls.AccountOpened, id=cls.id_for(member_id), member_id=member_id, timestamp=now)

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A version-1 snapshot kept every credit, but not the references of old additions,
        which version 3 needs: replay the events instead (snapshots are caches)."""
        raise SnapshotOutdated("credit account snapshots before version 3 lack unrecorded_references")

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """The references of old additions are in the events only: replay them instead."""
        raise SnapshotOutdated("credit account snapshots before version 3 lack unrecorded_references")

    # commands

    def add(self, source: str, count: int, reference: str, actor: Actor, now: datetime) -> None:
        check_addition(self.member_id, source, count, reference, actor)
        self.trigger_event(
            self.CreditsAdded,
            source=source,
            count=count,
            reference=reference,
            actor=str(actor),
            reference_recorded=True,
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
        self._settle_held(self.CreditHoldMoved, credit_id, booking_id, actor, now, confirm_by=confirm_by)

    def release(self, credit_id: str, booking_id: str, actor: Actor, now: datetime) -> None:
        self._settle_held(self.CreditReleased, credit_id, booking_id, actor, now)

    def consume(self, credit_id: str, booking_id: str, actor: Actor, now: datetime) -> None:
        self._settle_held(self.CreditConsumed, credit_id, booking_id, actor, now)

    def forfeit(self, credit_id: str, booking_id: str, reason: str, actor: Actor, now: datetime) -> None:
        self._settle_held(self.CreditForfeited, credit_id, booking_id, actor, now, reason=reason)

    def _settle_held(
        self,
        event: type[Aggregate.Event],
        credit_id: str,
        booking_id: str,
        actor: Actor,
        now: datetime,
        **data: Any,
    ) -> None:
        """Record ``event`` about a credit that must be held for ``booking_id``."""
        self._check_held_for(credit_id, booking_id)
        self.trigger_event(
            event, credit_id=credit_id, booking_id=booking_id, actor=str(actor), timestamp=now, **data
        )

    def restore(self, credit_id: str, booking_id: str, reason: str, actor: Actor, now: datetime) -> None:
        credit = self.credit(credit_id)
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
        return f"c{self.available[0][0]}" if self.available else None

    def unrecorded_addition(self, reference: str, source: str, count: int) -> bool:
        """Whether ``reference`` already added credits before its use was recorded as a
        ``CreditReference``: True for a repeat of that addition (add nothing), a
        ``ReferenceConflict`` for another addition under it, False for a reference never used."""
        earlier = self.unrecorded_references.get(reference)
        if earlier is None:
            return False
        if [source, count] != earlier:
            raise ReferenceConflict(
                f"reference {reference!r} already added {earlier[1]} {earlier[0]} credit(s) for "
                f"member {self.member_id}; it cannot also add {count} {source} credit(s): use a new reference"
            )
        return True

    def holds_to_settle(self, now: datetime) -> list[str]:
        """Bookings holding a credit whose confirmation deadline has passed (or is unknown):
        they may have expired without the scheduler having recorded it yet."""
        return [
            self.held[credit_id][1]
            for credit_id, confirm_by in self.hold_deadlines.items()
            if confirm_by is None or confirm_by <= now
        ]

    def balance(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for key, n in self.counts.items():
            counts[key.partition(":")[2]] += n
        return counts

    def balance_by_source(self) -> dict[str, dict[str, int]]:
        by_source = {source: dict.fromkeys(STATUSES, 0) for source in SOURCES}
        for key, n in self.counts.items():
            source, _, status = key.partition(":")
            by_source[source][status] += n
        return by_source

    def credit(self, credit_id: str) -> dict[str, Any] | None:
        """One credit's ``source``, ``status`` and ``booking_id``; a consumed credit's source
        and booking are no longer kept (``None``); ``None`` for a credit never added."""
        for status, table in (("held", self.held), ("forfeited", self.forfeited)):
            if credit_id in table:
                source, booking_id = table[credit_id]
                return {"source": source, "status": status, "booking_id": booking_id}
        number = credit_number(credit_id)
        if not 1 <= number <= self.added:
            return None
        run = self._run_of(number)
        if run is not None:
            return {"source": self.available[run][2], "status": "available", "booking_id": None}
        return {"source": None, "status": "consumed", "booking_id": None}

    def _check_held_for(self, credit_id: str, booking_id: str) -> None:
        held = self.held.get(credit_id)
        if held is None or held[1] != booking_id:
            raise InvalidTransition(f"credit {credit_id} is not held for booking {booking_id}")

    # state changes (called by the events' apply only)

    def _count(self, source: str | None, status: str, delta: int) -> None:
        key = f"{source}:{status}"
        self.counts[key] = self.counts.get(key, 0) + delta
        if not self.counts[key]:
            del self.counts[key]

    def _move(self, credit_id: str, status: str, booking_id: str | None) -> None:
        """Move one credit to ``status`` from wherever it is now (the events decide, so a
        replay never refuses; the audit checks that each move was allowed)."""
        current = self.credit(credit_id)
        if current is None:
            return
        source = current["source"]
        if current["status"] == "available":
            self._take_available(credit_number(credit_id))
        elif current["status"] in ("held", "forfeited"):
            (self.held if current["status"] == "held" else self.forfeited).pop(credit_id)
        self._count(source, current["status"], -1)
        self._count(source, status, 1)
        if status == "available":
            self._make_available(credit_number(credit_id), credit_number(credit_id), source)
        elif status == "held":
            self.held[credit_id] = [source, booking_id]  # type: ignore[list-item]
        elif status == "forfeited":
            self.forfeited[credit_id] = [source, booking_id]  # type: ignore[list-item]

    def _run_of(self, number: int) -> int | None:
        i = bisect_right(self.available, number, key=lambda run: run[0]) - 1
        return i if i >= 0 and self.available[i][0] <= number <= self.available[i][1] else None

    def _take_available(self, number: int) -> None:
        i = self._run_of(number)
        if i is None:
            return
        first, last, source = self.available[i]
        pieces = [[a, b, source] for a, b in ((first, number - 1), (number + 1, last)) if a <= b]
        self.available[i : i + 1] = pieces

    def _make_available(self, first: int, last: int, source: str | None) -> None:
        runs = self.available
        i = bisect_right(runs, first, key=lambda run: run[0])
        new = [first, last, source]
        if i > 0 and runs[i - 1][1] + 1 == first and runs[i - 1][2] == source:
            new[0] = runs[i - 1][0]
            i -= 1
            del runs[i]
        if i < len(runs) and runs[i][0] == last + 1 and runs[i][2] == source:
            new[1] = runs[i][1]
            del runs[i]
        runs.insert(i, new)


def ledger_credits(events: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Every credit a member ever held, with its latest source, status and booking, folded from
    the account's events (for the audit: the aggregate keeps only what is still open)."""
    credits: dict[str, dict[str, Any]] = {}
    for event in events:
        name = type(event).__name__
        if name == "CreditsAdded":
            for _ in range(event.count):
                credits[f"c{len(credits) + 1}"] = {
                    "source": event.source,
                    "status": "available",
                    "booking_id": None,
                }
        elif type(event) in CREDIT_MOVES and event.credit_id in credits:
            status = CREDIT_MOVES[type(event)].enters
            credits[event.credit_id].update(
                status=status, booking_id=None if status == "available" else event.booking_id
            )
    return credits


class CreditMove(NamedTuple):
    """What one ledger event does to one credit: the status it ``leaves``, the status it
    ``enters``, and the ``movement`` a booking's history names it by."""

    leaves: str
    enters: str
    movement: str


CREDIT_MOVES: dict[type[Aggregate.Event], CreditMove] = {
    CreditAccount.CreditHeld: CreditMove("available", "held", "held"),
    CreditAccount.CreditReleased: CreditMove("held", "available", "released"),
    CreditAccount.CreditConsumed: CreditMove("held", "consumed", "consumed"),
    CreditAccount.CreditForfeited: CreditMove("held", "forfeited", "forfeited"),
    CreditAccount.CreditRestored: CreditMove("forfeited", "available", "restored"),
}
"""The credit movements of the ledger's events, written once: the credit-balances view counts
by it and the audit checks the ledger against it."""


def check_addition(member_id: str, source: object, count: object, reference: object, actor: Actor) -> None:
    """The rules of adding credits, checked before anything is recorded.

    Purchases may be made by the member or on their behalf; ``insurance`` and ``employer``
    grants come only from an operator or the calling billing system (``system:<name>``),
    never from the member. Every addition names its payment or authorisation reference.
    """
    check_party_id(member_id, "member_id")
    if source not in SOURCES:
        raise InvalidInput(f"source must be one of {', '.join(SOURCES)}; got {source!r}")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_CREDITS_PER_COMMAND:
        raise InvalidInput(f"count must be a whole number from 1 to {MAX_CREDITS_PER_COMMAND}")
    if (
        not isinstance(reference, str)
        or not reference.strip()
        or len(reference) > MAX_REFERENCE
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in reference)
    ):
        raise InvalidInput(
            "reference must name the payment or authorisation: "
            f"1 to {MAX_REFERENCE} printable characters, not blank"
        )
    if actor.kind in ("system", "operator"):
        return
    if actor.is_("member", member_id):
        if source == "purchase":
            return
        raise NotAllowed(
            f"a member cannot grant themselves {source} credits: {source} grants come from an "
            "operator or the billing system (system:<name>)"
        )
    raise NotAllowed(f"{actor} may not add credits for member {member_id}")

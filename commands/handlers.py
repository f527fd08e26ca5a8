"""One handler per command: load the aggregates, take one domain decision, return what to
save with the outcome. ``BookingService.handle`` runs a handler inside ``_execute``, which
saves atomically, retries on version conflicts and replays known command ids."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from commands import messages as m
from domain.actors import Actor
from domain.availability import Availability
from domain.booking import Booking, needs_ledger
from domain.credit_reference import CreditReference
from domain.credits import check_addition
from domain.room import Room
from domain.time import iso

if TYPE_CHECKING:
    from commands.service import BookingService

C = TypeVar("C", bound=m.Command)
Decided = tuple[Sequence[Aggregate], dict[str, Any]]
Handler = Callable[["BookingService", Any, datetime], Decided]

HANDLERS: dict[type[m.Command], Handler] = {}


def handles(command: type[C]) -> Callable[[Callable[[BookingService, C, datetime], Decided]], Handler]:
    def register(handler: Callable[[BookingService, C, datetime], Decided]) -> Handler:
        HANDLERS[command] = handler
        return handler

    return register


@handles(m.OpenRoom)
def open_room(service: BookingService, c: m.OpenRoom, now: datetime) -> Decided:
    """Open the member's room with the provider, or answer the one already open
    (``created`` tells which): there is one room per member and provider."""
    opener = Actor.parse(c.actor)
    Room.check_may_open(c.member_id, c.provider_id, opener)
    outcome = {"member_id": c.member_id, "provider_id": c.provider_id}
    existing = service._find(Room, Room.id_for(c.member_id, c.provider_id))
    if existing is not None:
        return [], {"room_id": str(existing.id), **outcome, "created": False}
    room = Room.open(c.member_id, c.provider_id, opener, now)
    return [room], {"room_id": str(room.id), **outcome, "created": True}


@handles(m.PublishAvailability)
def publish_availability(service: BookingService, c: m.PublishAvailability, now: datetime) -> Decided:
    """Publish the hours; each open session they no longer cover (or cover again) says so."""
    publisher = Actor.parse(c.actor)
    calendar = service._calendar(c.provider_id, now)
    calendar.publish(c.availability, publisher, now)
    assert calendar.availability is not None  # just published
    hours = Availability.recorded(calendar.availability)
    changed: list[Aggregate] = []
    for booking_id in sorted({slot[2] for slot in calendar.booked}):
        booking = service._find(Booking, UUID(booking_id))
        if booking is not None:
            booking.note_availability(hours.contains, publisher, now)
            if booking.pending_events:
                changed.append(booking)
    return [calendar, *changed], {"provider_id": c.provider_id, "availability": calendar.availability}


@handles(m.AddCredits)
def add_credits(service: BookingService, c: m.AddCredits, now: datetime) -> Decided:
    """Purchase (source ``purchase``) or grant (``insurance``, ``employer``) credits.

    A reference adds credits once per member: repeated with the same count and source it
    answers the first outcome and adds nothing; with another count or source it is refused
    (``reference_conflict``). A reference added by a release that kept no ``CreditReference``
    is known from the account's own ``CreditsAdded`` and adds once too.
    """
    adder = Actor.parse(c.actor)
    check_addition(c.member_id, c.source, c.count, c.reference, adder)
    used = service._find(CreditReference, CreditReference.id_for(c.member_id, c.reference))
    if used is not None:
        used.check_repeat(c.source, c.count)
        return [], used.outcome()
    account = service._account(c.member_id, now)
    if account.unrecorded_addition(c.reference, c.source, c.count):
        # Added by a release that kept no CreditReference: a repeat, so nothing is added. Its
        # first answer's balance was not recorded; the current one is answered.
        outcome = {"member_id": c.member_id, "source": c.source, "count": c.count, "reference": c.reference}
        return [], {**outcome, "balance": account.balance()}
    account.add(c.source, c.count, c.reference, adder, now)
    use = CreditReference.use(c.member_id, c.reference, c.source, c.count, account.balance(), adder, now)
    return [use, account], use.outcome()  # the position is the credits' event


@handles(m.ReserveSession)
def reserve_session(service: BookingService, c: m.ReserveSession, now: datetime) -> Decided:
    room = service._load(Room, c.room_id, "room")
    account = service._account(room.member_id, now)
    calendar = service._calendar(room.provider_id, now)
    settled = service._settle_blockers(account, calendar, c.starts_at, c.length_minutes, now)
    booking = Booking.reserve(
        room,
        account,
        calendar,
        c.starts_at,
        c.length_minutes,
        c.format,
        service.policy,
        Actor.parse(c.actor),
        now,
    )
    return [booking, account, calendar, *settled], booking_outcome(booking)


@handles(m.ConfirmSession)
def confirm_session(service: BookingService, c: m.ConfirmSession, now: datetime) -> Decided:
    booking = service._load(Booking, c.booking_id, "booking")
    booking.confirm(Actor.parse(c.actor), now)
    return [booking], booking_outcome(booking)


@handles(m.DeclineSession)
def decline_session(service: BookingService, c: m.DeclineSession, now: datetime) -> Decided:
    booking, account, calendar = service._booking_with_ledger(c.booking_id, now)
    booking.decline(account, calendar, c.reason, Actor.parse(c.actor), now)
    return [booking, account, calendar], booking_outcome(booking)


@handles(m.RescheduleSession)
def reschedule_session(service: BookingService, c: m.RescheduleSession, now: datetime) -> Decided:
    booking, account, calendar = service._booking_with_ledger(c.booking_id, now)
    settled = service._settle_blockers(
        account, calendar, c.starts_at, booking.length_minutes, now, ignoring=c.booking_id
    )
    booking.reschedule(account, calendar, c.starts_at, c.accept_forfeit, Actor.parse(c.actor), now)
    return [booking, account, calendar, *settled], booking_outcome(booking)


@handles(m.CancelSession)
def cancel_session(service: BookingService, c: m.CancelSession, now: datetime) -> Decided:
    booking, account, calendar = service._booking_with_ledger(c.booking_id, now)
    booking.cancel(account, calendar, c.reason, c.accept_forfeit, Actor.parse(c.actor), now)
    return [booking, account, calendar], booking_outcome(booking)


@handles(m.RecordMemberJoined)
def record_member_joined(service: BookingService, c: m.RecordMemberJoined, now: datetime) -> Decided:
    booking = service._load(Booking, c.booking_id, "booking")
    booking.record_member_joined(Actor.parse(c.actor), now)
    return [booking], booking_outcome(booking)


@handles(m.ProposeStart)
def propose_start(service: BookingService, c: m.ProposeStart, now: datetime) -> Decided:
    booking, account, calendar = service._booking_with_ledger(c.booking_id, now)
    proposal_id = booking.propose(calendar, c.starts_at, Actor.parse(c.actor), now)
    proposal = booking.proposal or {}
    return [booking, account, calendar], {
        "proposal_id": proposal_id,
        "booking_id": str(booking.id),
        "starts_at": iso(proposal["starts_at"]),
        "ends_at": iso(proposal["ends_at"]),
        "expires_at": iso(proposal["expires_at"]),
        "status": "open",
    }


@handles(m.AcceptProposal)
def accept_proposal(service: BookingService, c: m.AcceptProposal, now: datetime) -> Decided:
    booking, account, calendar = service._booking_with_ledger(c.booking_id, now)
    settled = service._settle_blockers(
        account,
        calendar,
        booking.proposal["starts_at"] if booking.proposal else booking.starts_at,
        booking.length_minutes,
        now,
        ignoring=c.booking_id,
    )
    booking.accept_proposal(account, calendar, c.proposal_id, Actor.parse(c.actor), now)
    return [booking, account, calendar, *settled], booking_outcome(booking)


@handles(m.DeclineProposal)
def decline_proposal(service: BookingService, c: m.DeclineProposal, now: datetime) -> Decided:
    booking, account, calendar = service._booking_with_ledger(c.booking_id, now)
    booking.decline_proposal(c.proposal_id, Actor.parse(c.actor), now)
    return [booking, account, calendar], booking_outcome(booking)


@handles(m.RecordProviderJoined)
def record_provider_joined(service: BookingService, c: m.RecordProviderJoined, now: datetime) -> Decided:
    booking = service._load(Booking, c.booking_id, "booking")
    booking.record_joined("provider", Actor.parse(c.actor), now)
    return [booking], booking_outcome(booking)


@handles(m.CompleteSession)
def complete_session(service: BookingService, c: m.CompleteSession, now: datetime) -> Decided:
    booking, account, calendar = service._booking_with_ledger(c.booking_id, now)
    booking.complete(account, Actor.parse(c.actor), now)
    return [booking, account, calendar], booking_outcome(booking)


@handles(m.ReportNoShow)
def report_no_show(service: BookingService, c: m.ReportNoShow, now: datetime) -> Decided:
    booking, account, calendar = service._booking_with_ledger(c.booking_id, now)
    booking.report_no_show(account, c.absent_party, Actor.parse(c.actor), now)
    return [booking, account, calendar], booking_outcome(booking)


@handles(m.RevokeForfeit)
def revoke_forfeit(service: BookingService, c: m.RevokeForfeit, now: datetime) -> Decided:
    booking, account, calendar = service._booking_with_ledger(c.booking_id, now)
    booking.revoke_forfeit(account, c.reason, Actor.parse(c.actor), now)
    return [booking, account, calendar], {**booking_outcome(booking), "balance": account.balance()}


@handles(m.RecordDeadline)
def record_deadline(service: BookingService, c: m.RecordDeadline, now: datetime) -> Decided:
    if not needs_ledger(c.kind):  # nothing read that the decision does not need
        booking = service._load(Booking, c.booking_id, "booking")
        recorded = booking.record_deadline(c.kind, c.due, None, None, now)
        return [booking], {**booking_outcome(booking), "recorded": recorded}
    booking, account, calendar = service._booking_with_ledger(c.booking_id, now, settle=False)
    recorded = booking.record_deadline(c.kind, c.due, account, calendar, now)
    return [booking, account, calendar], {**booking_outcome(booking), "recorded": recorded}


def booking_outcome(booking: Booking) -> dict[str, Any]:
    return {
        "booking_id": str(booking.id),
        "status": booking.status,
        "starts_at": iso(booking.starts_at),
        "ends_at": iso(booking.ends_at),
        "confirm_by": iso(booking.confirm_by),
        "free_until": iso(booking.free_until),
        "policy_version": booking.policy_version,
    }

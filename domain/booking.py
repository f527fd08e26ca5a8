"""Booking: one appointment and its whole life, reschedules included.

Every decision is taken from the booking's own recorded instants (``confirm_by``,
``free_until``, ``session_end_due``) and the command's ``now``, never from whether a
deadline event has been recorded yet. Public methods check, then trigger events whose
``apply`` only changes state (it re-runs on every replay).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from eventsourcing.domain import Aggregate

from domain.actors import SCHEDULER, Actor
from domain.calendar import ProviderCalendar, check_length
from domain.credits import CreditAccount
from domain.errors import (
    ForfeitNotAcknowledged,
    InvalidInput,
    InvalidTransition,
    NoCreditAvailable,
    NotAllowed,
    NotFound,
    SameStart,
)
from domain.lifecycle import (
    CANCEL,
    CANCELLED,
    COMPLETE,
    COMPLETED,
    CONFIRM,
    CONFIRMED,
    DECLINE,
    DECLINED,
    EXPIRED,
    FINAL,
    JOINED,
    MEMBER,
    NO_SHOW,
    NO_SHOW_ACTION,
    PENDING,
    PROVIDER,
    RESCHEDULE,
    STATUSES,
    Timeline,
    allowed_actions,
    change_is_free,
    status_at,
    why_not,
)
from domain.policy import FORMATS, Policy, with_unrecorded
from domain.room import Room
from domain.time import iso

CONFIRMATION = "confirmation"
FREE_CANCELLATION = "free_cancellation"
SESSION_END = "session_end"
REMINDER = "reminder"
DEADLINE_KINDS = (CONFIRMATION, FREE_CANCELLATION, SESSION_END, REMINDER)
NO_CONSEQUENCE = (FREE_CANCELLATION, REMINDER)
"""Deadlines whose events change no state and move no credit."""


def needs_ledger(kind: str) -> bool:
    """Whether recording a deadline of ``kind`` may move a credit or free a slot, and so needs
    the member's credit account and the provider's calendar (an expiry gives both back, a
    session's end consumes the credit); the others touch the booking alone."""
    return kind in DEADLINE_KINDS and kind not in NO_CONSEQUENCE


def current_deadlines(
    status: str,
    confirm_by: datetime,
    free_until: datetime,
    session_end_due: datetime,
    free_cancellation_closed: datetime | None,
    reminder_due: datetime | None = None,
    reminded_due: datetime | None = None,
) -> list[tuple[str, datetime]]:
    """The deadlines a booking in this state still has, as (kind, due) pairs: the one rule the
    aggregate decides by and the pending-deadlines view lists by. The reminder belongs only to
    a confirmed booking, once per start (a moved start has another ``reminder_due``)."""
    current: list[tuple[str, datetime]] = []
    if status == PENDING:
        current.append((CONFIRMATION, confirm_by))
    if status in (PENDING, CONFIRMED) and free_cancellation_closed != free_until:
        current.append((FREE_CANCELLATION, free_until))
    if status == CONFIRMED and reminder_due is not None and reminded_due != reminder_due:
        current.append((REMINDER, reminder_due))
    if status == CONFIRMED:
        current.append((SESSION_END, session_end_due))
    return current


class Booking(Aggregate):
    class SessionReserved(Aggregate.Created):
        room_id: str
        member_id: str
        provider_id: str
        starts_at: datetime
        ends_at: datetime
        length_minutes: int
        format: str
        confirm_by: datetime
        free_until: datetime
        session_end_due: datetime
        credit_id: str
        policy: dict[str, Any]
        policy_version: str
        actor: str

        # 2: ``policy`` holds every number of ``Policy``; releases before recorded fewer.
        # 3: ``policy`` also holds ``member_late_grace``.
        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Fill the numbers an older release did not record with the values that keep its
            behaviour (``policy.UNRECORDED``); ``policy_version`` still names what was recorded."""
            state["policy"] = with_unrecorded(state["policy"])

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """A booking recorded without ``member_late_grace`` let the provider report the member
            absent from the start: a late grace of zero (``policy.UNRECORDED``)."""
            state["policy"] = with_unrecorded(state["policy"])

    class ProviderConfirmed(Aggregate.Event):
        actor: str

        def apply(self, booking: Booking) -> None:
            booking.status = CONFIRMED
            booking.proposal = None

    class ProviderDeclined(Aggregate.Event):
        reason: str
        actor: str

        def apply(self, booking: Booking) -> None:
            booking.status = DECLINED
            booking.proposal = None

    class ConfirmationExpired(Aggregate.Event):
        due: datetime
        actor: str

        @property
        def effective_at(self) -> datetime:
            """An expiry takes effect at its deadline, however late it is recorded."""
            return self.due

        def apply(self, booking: Booking) -> None:
            booking.status = EXPIRED
            booking.proposal = None

    class FreeCancellationClosed(Aggregate.Event):
        due: datetime
        actor: str

        def apply(self, booking: Booking) -> None:
            booking.free_cancellation_closed = self.due

    class SessionReminderDue(Aggregate.Event):
        """The reminder lead before a confirmed session's start was reached (changes nothing)."""

        due: datetime
        starts_at: datetime
        actor: str

        def apply(self, booking: Booking) -> None:
            booking.reminded_due = self.due

    class Rescheduled(Aggregate.Event):
        previous_starts_at: datetime
        starts_at: datetime
        ends_at: datetime
        confirm_by: datetime
        free_until: datetime
        session_end_due: datetime
        free: bool
        credit_id: str
        actor: str

        def apply(self, booking: Booking) -> None:
            booking.moved(PENDING, self)

    class Cancelled(Aggregate.Event):
        by: str
        free: bool
        reason: str
        actor: str

        def apply(self, booking: Booking) -> None:
            booking.status = CANCELLED
            booking.proposal = None

    class CreditForfeited(Aggregate.Event):
        credit_id: str
        reason: str
        actor: str
        effective_at: datetime
        """The instant the forfeit took effect: a session's end for a no-show recorded late."""

        class_version = 2  # 2: ``effective_at``

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Releases before dated a forfeit when it was recorded."""
            state["effective_at"] = state["timestamp"]

        def apply(self, booking: Booking) -> None:
            booking.forfeited.append(self.credit_id)

    class MemberJoined(Aggregate.Event):
        actor: str

        def apply(self, booking: Booking) -> None:
            booking.joined_at = self.timestamp

    class ProviderJoined(Aggregate.Event):
        """The provider's presence in the session was recorded (by the provider or the
        live-session platform): the provider can no longer be reported absent."""

        actor: str

        def apply(self, booking: Booking) -> None:
            booking.provider_joined_at = self.timestamp

    class SessionCompleted(Aggregate.Event):
        credit_id: str
        actor: str
        effective_at: datetime
        """The instant it took effect: the session's end when the scheduler records it."""

        class_version = 2  # 2: ``effective_at``

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Releases before dated a completion when it was recorded."""
            state["effective_at"] = state["timestamp"]

        def apply(self, booking: Booking) -> None:
            booking.status = COMPLETED
            booking.proposal = None

    class NoShowRecorded(Aggregate.Event):
        absent_party: str
        actor: str
        effective_at: datetime
        """The instant it took effect: the session's end when the scheduler records it."""

        class_version = 2  # 2: ``effective_at``

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Releases before dated a no-show when it was recorded."""
            state["effective_at"] = state["timestamp"]

        def apply(self, booking: Booking) -> None:
            booking.status = NO_SHOW
            booking.absent_party = self.absent_party
            booking.proposal = None

    class ForfeitRevoked(Aggregate.Event):
        credit_id: str
        reason: str
        actor: str

        def apply(self, booking: Booking) -> None:
            booking.forfeited.remove(self.credit_id)
            booking.restored.append(self.credit_id)

    class CancelledForMember(Aggregate.Event):
        """An operator cancelled on the member's behalf (a change the member did not make):
        free whenever it happens before the start."""

        reason: str
        actor: str

        def apply(self, booking: Booking) -> None:
            booking.status = CANCELLED
            booking.proposal = None

    class ProposalMade(Aggregate.Event):
        """The provider proposed another start; open until ``expires_at`` (when that start
        could no longer be booked) or until any other change of the booking."""

        proposal_id: str
        starts_at: datetime
        ends_at: datetime
        expires_at: datetime
        actor: str

        def apply(self, booking: Booking) -> None:
            booking.proposal = {
                "id": self.proposal_id,
                "starts_at": self.starts_at,
                "ends_at": self.ends_at,
                "expires_at": self.expires_at,
            }
            booking.proposal_ids.append(self.proposal_id)

    class ProposalAccepted(Aggregate.Event):
        """The member accepted the provider's proposal: the session moved there, confirmed
        (the provider already agreed), its credit kept whatever the time."""

        proposal_id: str
        previous_starts_at: datetime
        starts_at: datetime
        ends_at: datetime
        confirm_by: datetime
        free_until: datetime
        session_end_due: datetime
        credit_id: str
        actor: str

        def apply(self, booking: Booking) -> None:
            booking.moved(CONFIRMED, self)

    class ProposalDeclined(Aggregate.Event):
        proposal_id: str
        actor: str

        def apply(self, booking: Booking) -> None:
            booking.proposal = None

    class OutsideAvailabilityChanged(Aggregate.Event):
        """The provider's published hours stopped (``True``) or again started (``False``) to
        cover the booked session: while outside, the member's changes are free."""

        outside_availability: bool
        actor: str

        def apply(self, booking: Booking) -> None:
            booking.outside_availability = self.outside_availability

    def __init__(
        self,
        room_id: str,
        member_id: str,
        provider_id: str,
        starts_at: datetime,
        ends_at: datetime,
        length_minutes: int,
        format: str,
        confirm_by: datetime,
        free_until: datetime,
        session_end_due: datetime,
        credit_id: str,
        policy: dict[str, Any],
        policy_version: str,
        actor: str,
    ) -> None:
        self.room_id = room_id
        self.member_id = member_id
        self.provider_id = provider_id
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.length_minutes = length_minutes
        self.format = format
        self.confirm_by = confirm_by
        self.free_until = free_until
        self.session_end_due = session_end_due
        self.credit_id = credit_id
        self.policy = Policy.recorded(policy_version, policy)  # the numbers it decides with
        self.policy_version = policy_version
        self.status = PENDING
        self.joined_at: datetime | None = None
        self.provider_joined_at: datetime | None = None
        self.proposal: dict[str, Any] | None = None  # the open (or expired) proposal, if any
        self.proposal_ids: list[str] = []  # every proposal ever made
        self.outside_availability = False
        self.absent_party: str | None = None
        self.free_cancellation_closed: datetime | None = None
        self.reminded_due: datetime | None = None
        self.forfeited: list[str] = []
        self.restored: list[str] = []

    # --- reserve ---------------------------------------------------------------------------

    @classmethod
    def reserve(
        cls,
        room: Room,
        account: CreditAccount,
        calendar: ProviderCalendar,
        starts_at: datetime,
        length_minutes: int,
        format: str,
        policy: Policy,
        actor: Actor,
        now: datetime,
    ) -> Booking:
        """Reserve a session: hold a slot in the calendar and a credit in the ledger."""
        if not actor.is_("member", room.member_id):
            raise NotAllowed(f"only member {room.member_id} may reserve in room {room.id}")
        if format not in FORMATS:
            raise InvalidInput(f"format must be one of {', '.join(FORMATS)}; got {format!r}")
        ends_at = starts_at + check_length(length_minutes, policy)
        booking_id = uuid4()
        # Check every rule before the first event, so a refusal leaves no aggregate changed.
        calendar.check_bookable(starts_at, ends_at, policy, now)
        deadlines = _deadlines(starts_at, ends_at, policy)
        credit_id = account.hold(str(booking_id), deadlines["confirm_by"], actor, now)
        calendar.hold(str(booking_id), starts_at, ends_at, policy, actor, now)
        return cls._create(
            cls.SessionReserved,
            id=booking_id,
            timestamp=now,
            actor=str(actor),
            room_id=str(room.id),
            member_id=room.member_id,
            provider_id=room.provider_id,
            starts_at=starts_at,
            ends_at=ends_at,
            length_minutes=length_minutes,
            format=format,
            credit_id=credit_id,
            policy=policy.to_dict(),
            policy_version=policy.version,
            **deadlines,
        )

    # --- provider decisions ----------------------------------------------------------------

    def confirm(self, actor: Actor, now: datetime) -> None:
        self._check_actor(actor, "provider", action="confirm")
        self._check_allowed(CONFIRM, now)
        self.trigger_event(self.ProviderConfirmed, actor=str(actor), timestamp=now)

    def decline(
        self,
        account: CreditAccount,
        calendar: ProviderCalendar,
        reason: str,
        actor: Actor,
        now: datetime,
    ) -> None:
        self._check_actor(actor, "provider", action="decline")
        self._check_allowed(DECLINE, now)
        self.trigger_event(self.ProviderDeclined, reason=reason, actor=str(actor), timestamp=now)
        self._give_back(account, calendar, actor, now)

    # --- member (or provider) changes ------------------------------------------------------

    def reschedule(
        self,
        account: CreditAccount,
        calendar: ProviderCalendar,
        starts_at: datetime,
        accept_forfeit: bool,
        actor: Actor,
        now: datetime,
    ) -> None:
        self._check_actor(actor, "member", action="reschedule")
        self._check_allowed(RESCHEDULE, now)
        if starts_at == self.starts_at:
            raise SameStart(f"booking {self.id} already starts at {iso(starts_at)}; choose another start")
        free = self.change_is_free(now)
        if not free and not accept_forfeit:
            raise ForfeitNotAcknowledged(self._forfeit_warning("Rescheduling", now))
        if not free and account.first_available() is None:
            raise NoCreditAvailable(
                "a late reschedule forfeits this session's credit and needs another "
                f"available credit; member {self.member_id} has none"
            )
        policy = self.policy
        ends_at = starts_at + timedelta(minutes=self.length_minutes)
        calendar.hold(str(self.id), starts_at, ends_at, policy, actor, now)
        deadlines = _deadlines(starts_at, ends_at, policy)
        credit_id = self.credit_id
        if free:
            account.move_hold(credit_id, str(self.id), deadlines["confirm_by"], actor, now)
        else:
            self._forfeit(account, "late_reschedule", actor, now)
            credit_id = account.hold(str(self.id), deadlines["confirm_by"], actor, now)
        self.trigger_event(
            self.Rescheduled,
            previous_starts_at=self.starts_at,
            starts_at=starts_at,
            ends_at=ends_at,
            free=free,
            credit_id=credit_id,
            actor=str(actor),
            timestamp=now,
            **deadlines,
        )

    def cancel(
        self,
        account: CreditAccount,
        calendar: ProviderCalendar,
        reason: str,
        accept_forfeit: bool,
        actor: Actor,
        now: datetime,
    ) -> None:
        if actor.kind == "operator":
            self._cancel_for_member(account, calendar, reason, actor, now)
            return
        party = self._check_actor(actor, "member", "provider", action="cancel")
        self._check_allowed(CANCEL, now)
        free = party == "provider" or self.change_is_free(now)
        if not free and not accept_forfeit:
            raise ForfeitNotAcknowledged(self._forfeit_warning("Cancelling", now))
        self.trigger_event(
            self.Cancelled, by=party, free=free, reason=reason, actor=str(actor), timestamp=now
        )
        if free:
            self._give_back(account, calendar, actor, now)
        else:
            self._forfeit(account, "late_cancel", actor, now)
            calendar.release(str(self.id), actor, now)

    def _cancel_for_member(
        self, account: CreditAccount, calendar: ProviderCalendar, reason: str, actor: Actor, now: datetime
    ) -> None:
        """An operator acting for the member: never a forfeit (the member did not make this
        change), but always a reason, kept in the history."""
        if not reason.strip():
            raise InvalidInput("an operator cancelling for the member must give a reason")
        self._check_allowed(CANCEL, now)
        self.trigger_event(self.CancelledForMember, reason=reason, actor=str(actor), timestamp=now)
        self._give_back(account, calendar, actor, now)

    # --- proposals -------------------------------------------------------------------------

    def propose(self, calendar: ProviderCalendar, starts_at: datetime, actor: Actor, now: datetime) -> str:
        """The provider proposes another start: one the provider could be booked at now. It
        holds nothing; the member's acceptance holds it. Returns the proposal's id."""
        self._check_actor(actor, "provider", action="propose a new start for")
        self._check_allowed(RESCHEDULE, now)
        if starts_at == self.starts_at:
            raise SameStart(f"booking {self.id} already starts at {iso(starts_at)}; propose another start")
        ends_at = starts_at + timedelta(minutes=self.length_minutes)
        calendar.check_bookable(starts_at, ends_at, self.policy, now, ignoring=str(self.id))
        proposal_id = str(uuid4())
        self.trigger_event(
            self.ProposalMade,
            proposal_id=proposal_id,
            starts_at=starts_at,
            ends_at=ends_at,
            expires_at=proposal_expiry(starts_at, self.policy),
            actor=str(actor),
            timestamp=now,
        )
        return proposal_id

    def accept_proposal(
        self,
        account: CreditAccount,
        calendar: ProviderCalendar,
        proposal_id: str,
        actor: Actor,
        now: datetime,
    ) -> None:
        """The member accepts: the session moves to the proposed start, confirmed, and the
        credit is kept whatever the 48-hour line (the member did not ask for this change)."""
        self._check_actor(actor, "member", action="accept a proposal for")
        proposal = self._open_proposal(proposal_id, now)
        self._check_allowed(RESCHEDULE, now)
        starts_at, ends_at = proposal["starts_at"], proposal["ends_at"]
        calendar.hold(str(self.id), starts_at, ends_at, self.policy, actor, now)
        deadlines = _deadlines(starts_at, ends_at, self.policy)
        account.move_hold(self.credit_id, str(self.id), deadlines["confirm_by"], actor, now)
        self.trigger_event(
            self.ProposalAccepted,
            proposal_id=proposal_id,
            previous_starts_at=self.starts_at,
            starts_at=starts_at,
            ends_at=ends_at,
            credit_id=self.credit_id,
            actor=str(actor),
            timestamp=now,
            **deadlines,
        )

    def decline_proposal(self, proposal_id: str, actor: Actor, now: datetime) -> None:
        """The member declines: nothing else changes."""
        self._check_actor(actor, "member", action="decline a proposal for")
        self._open_proposal(proposal_id, now)
        self.trigger_event(self.ProposalDeclined, proposal_id=proposal_id, actor=str(actor), timestamp=now)

    def proposal_at(self, now: datetime) -> dict[str, Any] | None:
        """The latest proposal not accepted, declined or superseded, with its status at ``now``
        (``open`` or ``expired``)."""
        return proposal_status(self.proposal, self.status_at(now), now)

    def _open_proposal(self, proposal_id: str, now: datetime) -> dict[str, Any]:
        if proposal_id not in self.proposal_ids:
            raise NotFound(f"booking {self.id} has no proposal {proposal_id!r}")
        proposal = self.proposal
        if proposal is None or proposal["id"] != proposal_id:
            raise InvalidTransition(
                f"proposal {proposal_id} is no longer open: it was answered, or a later change of "
                f"booking {self.id} superseded it"
            )
        if now >= proposal["expires_at"]:
            raise InvalidTransition(
                f"proposal {proposal_id} expired at {iso(proposal['expires_at'])}: its start "
                "could no longer be booked"
            )
        return proposal

    # --- the provider's hours --------------------------------------------------------------

    def note_availability(
        self, covers: Callable[[datetime, datetime], bool], actor: Actor, now: datetime
    ) -> None:
        """Record whether the provider's newly published hours still cover this open session
        (``covers(starts_at, ends_at)``), when that changed."""
        if self.status_at(now) not in (PENDING, CONFIRMED) or now >= self.starts_at:
            return
        outside = not covers(self.starts_at, self.ends_at)
        if outside != self.outside_availability:
            self.trigger_event(
                self.OutsideAvailabilityChanged,
                outside_availability=outside,
                actor=str(actor),
                timestamp=now,
            )

    # --- attendance ------------------------------------------------------------------------

    def record_member_joined(self, actor: Actor, now: datetime) -> None:
        if actor.kind not in ("platform", "operator", "system") and not actor.is_("member", self.member_id):
            raise NotAllowed(f"{actor} may not report attendance for booking {self.id}")
        self._check_allowed(JOINED, now)
        if self.joined_at is None:
            self.trigger_event(self.MemberJoined, actor=str(actor), timestamp=now)

    def record_joined(self, party: str, actor: Actor, now: datetime) -> None:
        """Record that ``party`` is present in the session, once (a repeat records nothing).

        The member's join is reported by the member or the platform (as always); the
        provider's by the provider or the live-session platform."""
        if party == MEMBER:
            self.record_member_joined(actor, now)
            return
        if party != PROVIDER:
            raise InvalidInput(f"party must be 'member' or 'provider'; got {party!r}")
        if actor.kind != "platform" and not actor.is_("provider", self.provider_id):
            raise NotAllowed(
                f"{actor} may not report the provider's presence in booking {self.id}; "
                f"only provider {self.provider_id} or the live-session platform may"
            )
        self._check_allowed(JOINED, now)
        if self.provider_joined_at is None:
            self.trigger_event(self.ProviderJoined, actor=str(actor), timestamp=now)

    def complete(self, account: CreditAccount, actor: Actor, now: datetime) -> None:
        self._check_actor(actor, "provider", action="complete")
        self._check_allowed(COMPLETE, now)
        self._complete(account, actor, now)

    def report_no_show(self, account: CreditAccount, absent_party: str, actor: Actor, now: datetime) -> None:
        if absent_party == "member":
            self._check_actor(actor, "provider", action="report the member absent")
        elif absent_party == "provider":
            if actor.kind != "operator":
                self._check_actor(actor, "member", action="report the provider absent")
        else:
            raise InvalidInput(f"absent party must be 'member' or 'provider'; got {absent_party!r}")
        self._check_allowed(NO_SHOW_ACTION, now, absent_party)
        self._no_show(account, absent_party, actor, now)

    def revoke_forfeit(self, account: CreditAccount, reason: str, actor: Actor, now: datetime) -> None:
        if actor.kind != "operator":
            raise NotAllowed("only an operator may revoke a forfeit")
        if not self.forfeited:
            raise InvalidTransition(f"booking {self.id} has no forfeited credit left to restore")
        credit_id = self.forfeited[-1]
        account.restore(credit_id, str(self.id), reason, actor, now)
        self.trigger_event(
            self.ForfeitRevoked, credit_id=credit_id, reason=reason, actor=str(actor), timestamp=now
        )

    # --- deadlines -------------------------------------------------------------------------

    def record_deadline(
        self,
        kind: str,
        due: datetime,
        account: CreditAccount | None,
        calendar: ProviderCalendar | None,
        now: datetime,
    ) -> bool:
        """Record a deadline event if ``due`` is still this booking's deadline of ``kind``.

        Returns False (and records nothing) for a stale, early or already recorded deadline:
        that is what makes a repeated or racing scheduler harmless. ``account`` and ``calendar``
        may be None for a kind that moves no credit and frees no slot (``needs_ledger``).
        A reminder is never recorded once its session has started (a scheduler back from an
        outage would otherwise remind a member of a session already under way).
        """
        if not self.deadline_is_current(kind, due) or now < due:
            return False
        if kind == REMINDER and now >= self.starts_at:
            return False
        if kind == FREE_CANCELLATION:
            self.trigger_event(self.FreeCancellationClosed, due=due, actor=str(SCHEDULER), timestamp=now)
            return True
        if kind == REMINDER:
            self.trigger_event(
                self.SessionReminderDue,
                due=due,
                starts_at=self.starts_at,
                actor=str(SCHEDULER),
                timestamp=now,
            )
            return True
        if account is None or calendar is None:
            raise ValueError(
                f"recording a {kind} deadline needs the member's account and the provider's calendar"
            )
        if kind == CONFIRMATION:
            self.trigger_event(self.ConfirmationExpired, due=due, actor=str(SCHEDULER), timestamp=now)
            self._give_back(account, calendar, SCHEDULER, now)
        elif self.joined_at is not None:
            self._complete(account, SCHEDULER, now, effective_at=due)
        else:
            self._no_show(account, "member", SCHEDULER, now, effective_at=due)
        return True

    def deadline_is_current(self, kind: str, due: datetime) -> bool:
        if kind not in DEADLINE_KINDS:
            raise InvalidInput(f"deadline kind must be one of {', '.join(DEADLINE_KINDS)}; got {kind!r}")
        return (kind, due) in self.pending_deadlines()

    def pending_deadlines(self) -> list[tuple[str, datetime]]:
        return current_deadlines(
            self.status,
            self.confirm_by,
            self.free_until,
            self.session_end_due,
            self.free_cancellation_closed,
            self.reminder_due,
            self.reminded_due,
        )

    @property
    def reminder_due(self) -> datetime | None:
        """When the session's reminder falls due (by the booking's own policy); None when off."""
        return reminder_due(self.starts_at, self.policy)

    def overdue_deadlines(self, now: datetime) -> list[tuple[str, datetime]]:
        """Due deadlines that decide the booking's fate (expiry, session end), oldest first.

        The free-cancellation close and the reminder change no state and move no credit, so
        they are left to the scheduler."""
        return sorted(
            (d for d in self.pending_deadlines() if d[1] <= now and d[0] not in NO_CONSEQUENCE),
            key=lambda d: d[1],
        )

    def settle(self, account: CreditAccount, calendar: ProviderCalendar, now: datetime) -> bool:
        """Record every overdue deadline, in order, as the scheduler would have.

        A command arriving after a deadline records that deadline's consequence in its own
        save, so money never moves differently because the scheduler is late.
        """
        overdue = self.overdue_deadlines(now)
        for kind, due in overdue:
            self.record_deadline(kind, due, account, calendar, now)
        return bool(overdue)

    # --- queries ---------------------------------------------------------------------------

    @property
    def timeline(self) -> Timeline:
        return Timeline.of(self, self.policy)

    def status_at(self, now: datetime) -> str:
        return status_at(self.timeline, now)

    def change_is_free(self, now: datetime) -> bool:
        return change_is_free(self.timeline, now)

    def allowed_actions(self, now: datetime) -> tuple[str, ...]:
        return allowed_actions(self.timeline, now)

    def review_policy(self, now: datetime) -> dict[str, Any]:
        """What a member cancel or reschedule would do right now, and why."""
        refused = why_not(self.timeline, CANCEL, now)
        free = self.change_is_free(now)
        if refused is not None:
            why, outcome = refused, "not_allowed"
        elif self.status_at(now) == PENDING:
            why, outcome = "the provider has not confirmed yet, so changes are free", "free"
        elif self.outside_availability:
            why, outcome = "the provider's hours no longer cover this session, so changes are free", "free"
        elif free:
            why, outcome = f"it is before {iso(self.free_until)}, so the credit is kept", "free"
        else:
            why = f"it is {iso(self.free_until)} or later, so the session credit is forfeited"
            outcome = "forfeit"
        return {
            "cancel": outcome,
            "reschedule": outcome,
            "change_is_free": free,
            "why": why,
            "free_until": self.free_until,
            "confirm_by": self.confirm_by,
            "allowed_actions": list(self.allowed_actions(now)),
            "policy_version": self.policy_version,
            "policy": self.policy.describe(),
            "requires_accept_forfeit": outcome == "forfeit",
        }

    # --- private helpers -------------------------------------------------------------------

    def _check_actor(self, actor: Actor, *parties: str, action: str) -> str:
        owners = {"member": self.member_id, "provider": self.provider_id}
        for party in parties:
            if actor.is_(party, owners[party]):
                return party
        allowed = " or ".join(f"{p} {owners[p]}" for p in parties)
        raise NotAllowed(f"{actor} may not {action} booking {self.id}; only {allowed} may")

    def _check_allowed(self, action: str, now: datetime, absent_party: str | None = None) -> None:
        refused = why_not(self.timeline, action, now, absent_party)
        if refused is not None:
            raise InvalidTransition(refused)

    def _forfeit_warning(self, doing: str, now: datetime) -> str:
        return (
            f"{doing} now ({iso(now)}) forfeits the session credit: the free cancellation "
            f"window closed at {iso(self.free_until)}. {self.policy.describe()} "
            "Repeat with accept_forfeit=true to proceed."
        )

    def moved(self, status: str, to: Booking.Rescheduled | Booking.ProposalAccepted) -> None:
        """The session now lies at ``to``'s instants, in ``status``: presence, any proposal and
        an outside-hours flag belonged to the old time (a reschedule's and an accepted
        proposal's one way of moving)."""
        self.status = status
        self.starts_at = to.starts_at
        self.ends_at = to.ends_at
        self.confirm_by = to.confirm_by
        self.free_until = to.free_until
        self.session_end_due = to.session_end_due
        self.credit_id = to.credit_id
        self.joined_at = None
        self.provider_joined_at = None
        self.proposal = None
        self.outside_availability = False

    def _give_back(
        self, account: CreditAccount, calendar: ProviderCalendar, actor: Actor, now: datetime
    ) -> None:
        account.release(self.credit_id, str(self.id), actor, now)
        calendar.release(str(self.id), actor, now)

    def _forfeit(
        self,
        account: CreditAccount,
        reason: str,
        actor: Actor,
        now: datetime,
        effective_at: datetime | None = None,
    ) -> None:
        account.forfeit(self.credit_id, str(self.id), reason, actor, now)
        self.trigger_event(
            self.CreditForfeited,
            credit_id=self.credit_id,
            reason=reason,
            actor=str(actor),
            timestamp=now,
            effective_at=effective_at or now,
        )

    def _complete(
        self, account: CreditAccount, actor: Actor, now: datetime, effective_at: datetime | None = None
    ) -> None:
        account.consume(self.credit_id, str(self.id), actor, now)
        self.trigger_event(
            self.SessionCompleted,
            credit_id=self.credit_id,
            actor=str(actor),
            timestamp=now,
            effective_at=effective_at or now,
        )

    def _no_show(
        self,
        account: CreditAccount,
        absent_party: str,
        actor: Actor,
        now: datetime,
        effective_at: datetime | None = None,
    ) -> None:
        self.trigger_event(
            self.NoShowRecorded,
            absent_party=absent_party,
            actor=str(actor),
            timestamp=now,
            effective_at=effective_at or now,
        )
        if absent_party == "member":
            self._forfeit(account, "no_show", actor, now, effective_at)
        else:
            account.release(self.credit_id, str(self.id), actor, now)


def proposal_expiry(starts_at: datetime, policy: Policy) -> datetime:
    """From this instant a proposal of ``starts_at`` is expired: the start would no longer
    leave the notice and the time to confirm that booking it needs."""
    return starts_at - max(policy.min_notice, policy.confirm_window + policy.min_confirm_time)


def proposal_status(proposal: dict[str, Any] | None, status: str, now: datetime) -> dict[str, Any] | None:
    """A recorded proposal as shown at ``now``: ``open`` until it expires (or the booking is no
    longer open), then ``expired``; None when there is none."""
    if proposal is None:
        return None
    is_open = status in (PENDING, CONFIRMED) and now < proposal["expires_at"]
    return {**proposal, "status": "open" if is_open else "expired"}


def reminder_due(starts_at: datetime, policy: Policy) -> datetime | None:
    """The reminder deadline of a session starting at ``starts_at``; None when reminders are off."""
    return starts_at - policy.reminder_lead if policy.reminder_lead > timedelta(0) else None


def _deadlines(starts_at: datetime, ends_at: datetime, policy: Policy) -> dict[str, datetime]:
    return {
        "confirm_by": starts_at - policy.confirm_window,
        "free_until": starts_at - policy.free_cancel_window,
        "session_end_due": ends_at + policy.no_show_grace,
    }


__all__ = [
    "CANCELLED",
    "COMPLETED",
    "CONFIRMED",
    "DECLINED",
    "EXPIRED",
    "FINAL",
    "NO_SHOW",
    "PENDING",
    "STATUSES",
    "Booking",
]

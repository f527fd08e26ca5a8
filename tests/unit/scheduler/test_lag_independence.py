"""No decision and no credit depends on whether the scheduler has run yet.

The same random command sequences run three times through the booking service: with the
scheduler firing every deadline on time, five hours late, and only after every command. The
decisions (accepted or the refusal's code), the final statuses and the final credit ledgers
must be the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.clock import ManualClock
from commands.service import BookingService
from domain.availability import align_up, weekly_hours
from domain.booking import CONFIRMATION, SESSION_END
from domain.credits import ledger_credits
from domain.errors import BookingError
from domain.policy import Policy
from tests.unit.scheduler.support import MONDAY

MEMBER, PROVIDER = "mia", "pat"
LENGTH = 45
ON_TIME, HOURS_LATE, AFTER_EVERYTHING = timedelta(0), timedelta(hours=5), None
ADVANCES = (0, 1, 15, 50, 6 * 60, 23 * 60, 25 * 60, 47 * 60, 3 * 24 * 60)
COMMANDS = (
    "reserve",
    "reserve",
    "reserve",
    "confirm",
    "confirm",
    "decline",
    "reschedule",
    "cancel by member",
    "cancel by provider",
    "joined",
    "complete",
    "member absent",
    "provider absent",
    "revoke forfeit",
    "buy a credit",
)

Step = tuple[int, str, int, int]
steps = st.lists(
    st.tuples(st.sampled_from(ADVANCES), st.sampled_from(COMMANDS), st.integers(0, 3), st.integers(0, 12)),
    min_size=1,
    max_size=25,
)


@dataclass
class Run:
    """One playthrough: the service, its clock, and what a scheduler with ``lag`` would do."""

    lag: timedelta | None
    clock: ManualClock = field(default_factory=lambda: ManualClock(MONDAY))
    bookings: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.service = BookingService(self.clock, Policy(), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.room_id = self.service.open_room(MEMBER, PROVIDER)["room_id"]
        self.service.publish_availability(PROVIDER, weekly_hours("UTC", "00:00", "24:00"))
        self.service.add_credits(MEMBER, "purchase", 1, "order-1")
        self.purchases = 1

    def play(self, sequence: list[Step]) -> dict[str, Any]:
        for minutes, command, index, slot in sequence:
            self.advance_to(self.clock.now() + timedelta(minutes=minutes))
            self.decisions.append(self.decide(command, index, slot))
        self.lag = ON_TIME
        self.advance_to(self.clock.now() + timedelta(days=90))
        account = self.service.get_account(MEMBER)
        return {
            "decisions": self.decisions,
            "statuses": [self.service.get_booking(b).status for b in self.bookings],
            "ledger": ledger(self.service.events.get(account.id), self.bookings),
        }

    def advance_to(self, target: datetime) -> None:
        """Move the clock to ``target``, firing on the way what the scheduler would fire. A fire the
        booking declines (a reminder whose session has started) is not tried again."""
        declined: set[tuple[datetime, str, str]] = set()
        while self.lag is not None:
            due = sorted(
                (due, booking_id, kind)
                for booking_id in self.bookings
                for kind, due in self.service.get_booking(booking_id).pending_deadlines()
                if due + self.lag <= target and (due, booking_id, kind) not in declined
            )
            if not due:
                break
            instant, booking_id, kind = due[0]
            self.clock.set(max(self.clock.now(), instant + self.lag))
            if not self.service.record_deadline(booking_id, kind, instant).get("recorded", True):
                declined.add(due[0])
        self.clock.set(target)

    def decide(self, command: str, index: int, slot: int) -> str:
        try:
            outcome = self.run(command, index, slot)
        except BookingError as refusal:
            return refusal.code
        return "skipped" if outcome is None else f"ok:{outcome.get('status', '')}"

    def run(self, command: str, index: int, slot: int) -> dict[str, Any] | None:
        s, member, provider = self.service, f"member:{MEMBER}", f"provider:{PROVIDER}"
        if command == "reserve":
            outcome = s.reserve_session(self.room_id, self.start(slot), LENGTH, "video", actor=member)
            self.bookings.append(outcome["booking_id"])
            return outcome
        if command == "buy a credit":
            self.purchases += 1
            return s.add_credits(MEMBER, "purchase", 1, f"order-{self.purchases}")
        if not self.bookings:
            return None
        booking = self.bookings[index % len(self.bookings)]
        actions = {
            "confirm": lambda: s.confirm_session(booking, actor=provider),
            "decline": lambda: s.decline_session(booking, actor=provider),
            "reschedule": lambda: s.reschedule_session(booking, self.start(slot), True, actor=member),
            "cancel by member": lambda: s.cancel_session(booking, accept_forfeit=True, actor=member),
            "cancel by provider": lambda: s.cancel_session(booking, actor=provider),
            "joined": lambda: s.record_member_joined(booking, actor="platform:video"),
            "complete": lambda: s.complete_session(booking, actor=provider),
            "member absent": lambda: s.report_no_show(booking, "member", actor=provider),
            "provider absent": lambda: s.report_no_show(booking, "provider", actor=member),
            "revoke forfeit": lambda: s.revoke_forfeit(booking, "test", actor="operator:olga"),
        }
        return actions[command]()

    def start(self, slot: int) -> datetime:
        policy = self.service.policy
        return align_up(policy.earliest_start(self.clock.now()), policy.slot_step) + slot * timedelta(hours=1)


def ledger(events: Iterable[Any], bookings: list[str]) -> dict[str, tuple[str, int | None]]:
    """Each credit's status and the booking (by order of reservation) it belongs to."""
    return {
        credit_id: (credit["status"], bookings.index(credit["booking_id"]) if credit["booking_id"] else None)
        for credit_id, credit in ledger_credits(events).items()
    }


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=steps)
def test_decisions_statuses_and_ledgers_do_not_depend_on_the_scheduler_lag(sequence: list[Step]) -> None:
    on_time = Run(ON_TIME).play(sequence)
    assert Run(HOURS_LATE).play(sequence) == on_time
    assert Run(AFTER_EVERYTHING).play(sequence) == on_time


def test_a_provider_cannot_complete_an_unjoined_session_after_its_end_deadline_even_unrecorded() -> None:
    run = Run(AFTER_EVERYTHING)
    booking = run.service.reserve_session(run.room_id, run.start(30), LENGTH, "video", actor="member:mia")
    run.bookings.append(booking["booking_id"])
    run.service.confirm_session(booking["booking_id"], actor="provider:pat")
    run.clock.set(run.service.get_booking(booking["booking_id"]).session_end_due)
    assert run.decide("complete", 0, 0) == "invalid_transition"
    assert run.decide("provider absent", 0, 0) == "invalid_transition"
    assert run.service.get_booking(booking["booking_id"]).pending_deadlines()[-1][0] == SESSION_END


def test_an_expired_but_unrecorded_booking_gives_its_credit_to_the_next_reservation() -> None:
    run = Run(AFTER_EVERYTHING)
    run.service.add_credits(MEMBER, "purchase", 1, "order-2")
    first = run.service.reserve_session(run.room_id, run.start(0), LENGTH, "video", actor="member:mia")
    second = run.service.reserve_session(run.room_id, run.start(2), LENGTH, "video", actor="member:mia")
    expired = run.service.get_booking(first["booking_id"])
    assert expired.pending_deadlines()[0][0] == CONFIRMATION
    run.clock.set(expired.confirm_by)
    third = run.service.reserve_session(run.room_id, run.start(5), LENGTH, "video", actor="member:mia")
    assert third["status"] == "pending_confirmation"
    assert run.service.get_booking(first["booking_id"]).status == "expired"
    assert (run.service.get_account(MEMBER).credit("c1") or {})["booking_id"] == third["booking_id"]
    assert second["booking_id"] != third["booking_id"]

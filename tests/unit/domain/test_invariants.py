"""Random interleavings of commands and clock advances on the in-memory domain never break
the invariants: credits conserved, no overlapping live sessions, only allowed transitions,
refusals that record nothing, and streams that replay to equal aggregates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.actors import Actor
from domain.booking import (
    CANCELLED,
    COMPLETED,
    CONFIRMATION,
    CONFIRMED,
    DEADLINE_KINDS,
    DECLINED,
    EXPIRED,
    NO_SHOW,
    PENDING,
    Booking,
)
from domain.errors import BookingError
from tests.unit.domain.world import OPERATOR, SYSTEM, World, replay, state

MEMBERS = ("mia", "max", "mo")
LIVE = (PENDING, CONFIRMED)
ALLOWED_TRANSITIONS = {
    (PENDING, CONFIRMED),
    (PENDING, DECLINED),
    (PENDING, EXPIRED),
    (PENDING, CANCELLED),
    (CONFIRMED, PENDING),
    (CONFIRMED, CANCELLED),
    (CONFIRMED, COMPLETED),
    (CONFIRMED, NO_SHOW),
}
ADVANCES = [timedelta(minutes=m) for m in (1, 15, 50)] + [timedelta(hours=h) for h in (6, 23, 25, 47)]


class BookingWorld(RuleBasedStateMachine):
    """One provider, three members; commands by the right or a wrong party at random instants."""

    @initialize(credits=st.lists(st.integers(0, 3), min_size=3, max_size=3))
    def start(self, credits: list[int]) -> None:
        self.world = World()
        self.added = dict.fromkeys(MEMBERS, 0)
        for member, count in zip(MEMBERS, credits, strict=True):
            self.world.member(member, count)
            self.added[member] = count
        self.bookings: list[Booking] = []
        self.last_status: dict[Any, str] = {}
        self.world.collect_all()
        self.refusals: dict[str, int] = {}

    # --- running a command ------------------------------------------------------------------

    def aggregates(self) -> list[Any]:
        return [self.world.calendar, *self.world.accounts.values(), *self.bookings]

    def attempt(self, command: Callable[[], Any]) -> Any:
        before = [state(a) for a in self.aggregates()]
        try:
            result = command()
        except BookingError as refusal:
            assert refusal.code and refusal.message
            self.refusals[refusal.code] = self.refusals.get(refusal.code, 0) + 1
            assert [state(a) for a in self.aggregates()] == before, f"{refusal.code} changed state"
            assert all(not a.pending_events for a in self.aggregates()), f"{refusal.code} left events"
            return None
        if isinstance(result, Booking):
            self.bookings.append(result)
        self.world.collect(*self.aggregates())
        return result

    def pick(self, index: int) -> Booking:
        """Mostly a live booking (where commands can succeed), sometimes any booking."""
        live = [b for b in self.bookings if b.status in LIVE]
        pool = live if live and index % 5 else self.bookings
        return pool[index % len(pool)]

    def start_at(self, hours: int, quarter: int) -> Any:
        anchor = self.world.now.replace(minute=0, second=0, microsecond=0)
        return anchor + timedelta(hours=hours, minutes=15 * quarter)

    # --- rules ------------------------------------------------------------------------------

    @rule(delta=st.sampled_from(ADVANCES))
    def advance(self, delta: timedelta) -> None:
        self.world.advance(delta)

    @precondition(lambda self: self.bookings)
    @rule(
        index=st.integers(0, 30),
        instant=st.sampled_from(["confirm_by", "free_until", "starts_at", "session_end_due"]),
        nudge=st.sampled_from([-1, 0, 1]),
    )
    def advance_to_a_deadline(self, index: int, instant: str, nudge: int) -> None:
        """Jump to one second before, exactly at, or one second after a booking's instant."""
        target = getattr(self.pick(index), instant) + timedelta(seconds=nudge)
        if target > self.world.now:
            self.world.at(target)

    @rule(member=st.sampled_from(MEMBERS), count=st.integers(1, 2))
    def add_credits(self, member: str, count: int) -> None:
        self.world.accounts[member].add("employer", count, "benefit", SYSTEM, self.world.now)
        self.world.collect(self.world.accounts[member])
        self.added[member] += count

    @rule(
        member=st.sampled_from(MEMBERS),
        hours=st.integers(20, 60),
        quarter=st.integers(0, 4),
        length=st.sampled_from([30, 45, 60, 50]),
    )
    def reserve(self, member: str, hours: int, quarter: int, length: int) -> None:
        self.attempt(lambda: self.world.reserve(member, self.start_at(hours, quarter), length))

    @precondition(lambda self: self.bookings)
    @rule(
        index=st.integers(0, 30),
        decision=st.sampled_from(["confirm", "confirm", "confirm", "decline"]),
        actor=st.sampled_from(["provider", "provider", "provider", "member", "operator"]),
    )
    def provider_decides(self, index: int, decision: str, actor: str) -> None:
        """Mostly confirm (the common case), sometimes decline; sometimes by the wrong party."""
        b = self.pick(index)
        party = self.party(b, actor)
        if decision == "confirm":
            self.attempt(lambda: b.confirm(party, self.world.now))
        else:
            self.attempt(
                lambda: b.decline(self.world.account_of(b), self.world.calendar, "", party, self.world.now)
            )

    @precondition(lambda self: self.bookings)
    @rule(
        index=st.integers(0, 30),
        hours=st.integers(20, 60),
        quarter=st.integers(0, 4),
        accept=st.booleans(),
        actor=st.sampled_from(["member", "member", "provider"]),
    )
    def reschedule(self, index: int, hours: int, quarter: int, accept: bool, actor: str) -> None:
        b = self.pick(index)
        self.attempt(
            lambda: b.reschedule(
                self.world.account_of(b),
                self.world.calendar,
                self.start_at(hours, quarter),
                accept,
                self.party(b, actor),
                self.world.now,
            )
        )

    @precondition(lambda self: self.bookings)
    @rule(
        index=st.integers(0, 30),
        accept=st.booleans(),
        actor=st.sampled_from(["member", "provider", "operator"]),
    )
    def cancel(self, index: int, accept: bool, actor: str) -> None:
        b = self.pick(index)
        self.attempt(
            lambda: b.cancel(
                self.world.account_of(b),
                self.world.calendar,
                "",
                accept,
                self.party(b, actor),
                self.world.now,
            )
        )

    @precondition(lambda self: self.bookings)
    @rule(index=st.integers(0, 30))
    def joined(self, index: int) -> None:
        b = self.pick(index)
        self.attempt(lambda: b.record_member_joined(Actor("platform", "video"), self.world.now))

    @precondition(lambda self: self.bookings)
    @rule(index=st.integers(0, 30))
    def complete(self, index: int) -> None:
        b = self.pick(index)
        self.attempt(lambda: b.complete(self.world.account_of(b), self.world.provider, self.world.now))

    @precondition(lambda self: self.bookings)
    @rule(index=st.integers(0, 30), absent=st.sampled_from(["member", "provider"]))
    def no_show(self, index: int, absent: str) -> None:
        b = self.pick(index)
        reporter = self.world.provider if absent == "member" else Actor("member", b.member_id)
        self.attempt(lambda: b.report_no_show(self.world.account_of(b), absent, reporter, self.world.now))

    @precondition(lambda self: self.bookings)
    @rule(index=st.integers(0, 30))
    def revoke(self, index: int) -> None:
        b = self.pick(index)
        self.attempt(lambda: b.revoke_forfeit(self.world.account_of(b), "", OPERATOR, self.world.now))

    @precondition(lambda self: self.bookings)
    @rule(index=st.integers(0, 30), kind=st.sampled_from(DEADLINE_KINDS), stale=st.booleans())
    def deadline(self, index: int, kind: str, stale: bool) -> None:
        b = self.pick(index)
        due = {
            CONFIRMATION: b.confirm_by,
            "free_cancellation": b.free_until,
            "session_end": b.session_end_due,
            "reminder": b.reminder_due or b.starts_at,
        }[kind]
        if stale:
            due -= timedelta(minutes=15)
        recorded = self.attempt(
            lambda: b.record_deadline(
                kind, due, self.world.account_of(b), self.world.calendar, self.world.now
            )
        )
        if stale or self.world.now < due:
            assert not recorded

    def party(self, booking: Booking, kind: str) -> Actor:
        return {
            "provider": self.world.provider,
            "member": Actor("member", booking.member_id),
            "operator": OPERATOR,
        }[kind]

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def credits_are_conserved_per_member(self) -> None:
        for member, account in self.world.accounts.items():
            balance = account.balance()
            assert sum(balance.values()) == self.added[member]
            mine = [b for b in self.bookings if b.member_id == member]
            held = set(account.held)
            assert held == {b.credit_id for b in mine if b.status in LIVE}
            for b in mine:
                if b.status in LIVE:
                    assert (account.credit(b.credit_id) or {})["booking_id"] == str(b.id)
            assert balance["forfeited"] == sum(len(b.forfeited) for b in mine)
            assert balance["consumed"] == sum(b.status == COMPLETED for b in mine)

    @invariant()
    def no_two_live_sessions_of_the_provider_overlap(self) -> None:
        live = sorted((b.starts_at, b.ends_at) for b in self.bookings if b.status in LIVE)
        for (_, first_end), (second_start, _) in pairwise(live):
            assert first_end <= second_start
        for b in self.bookings:
            if b.status in (DECLINED, EXPIRED, CANCELLED):
                assert str(b.id) not in self.world.calendar.slots
            if b.status in LIVE and b.ends_at > self.world.now:
                assert self.world.calendar.slots[str(b.id)] == [b.starts_at, b.ends_at]

    @invariant()
    def states_change_only_by_allowed_transitions(self) -> None:
        for b in self.bookings:
            previous = self.last_status.get(b.id, PENDING)
            assert previous == b.status or (previous, b.status) in ALLOWED_TRANSITIONS
            self.last_status[b.id] = b.status

    def teardown(self) -> None:
        if not hasattr(self, "world"):
            return
        for aggregate in self.aggregates():
            assert replay(self.world.history[aggregate.id]) == aggregate


TestBookingWorld = pytest.mark.slow(BookingWorld.TestCase)
TestBookingWorld.settings = settings(
    max_examples=200, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

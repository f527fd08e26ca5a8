"""Who pays: releases, forfeits, consumption and revocation; and deadline events that are
recorded only when current, never early, never twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.actors import Actor
from domain.booking import (
    CANCELLED,
    COMPLETED,
    CONFIRMATION,
    CONFIRMED,
    DEADLINE_KINDS,
    EXPIRED,
    FREE_CANCELLATION,
    NO_SHOW,
    PENDING,
    REMINDER,
    SESSION_END,
    Booking,
    needs_ledger,
)
from domain.credits import CreditAccount
from domain.policy import Policy
from tests.unit.domain.world import OPERATOR, SYSTEM, World, replay, unchanged

START = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
DURING = START + timedelta(minutes=10)
MEMBER_LATE = START + timedelta(minutes=15)
"""From when the provider may report the member absent (the member's late grace)."""
SECOND = timedelta(seconds=1)
MIA = Actor("member", "mia")
NOTHING = {"available": 0, "held": 0, "consumed": 0, "forfeited": 0}


def reserved(credits: int = 1, policy: Policy | None = None) -> tuple[World, Booking, CreditAccount]:
    world = World(policy=policy)
    world.member("mia", credits)
    booking = world.reserve("mia", START)
    return world, booking, world.account_of(booking)


def confirmed(credits: int = 1) -> tuple[World, Booking, CreditAccount]:
    world, booking, account = reserved(credits)
    booking.confirm(world.provider, world.now)
    return world, booking, account


def balance(**counts: int) -> dict[str, int]:
    return {**NOTHING, **counts}


# --- who pays --------------------------------------------------------------------------------


def test_a_provider_decline_releases_the_credit_and_the_slot() -> None:
    world, booking, account = reserved()
    booking.decline(account, world.calendar, "away", world.provider, world.now)
    assert account.balance() == balance(available=1)
    assert world.calendar.slots == {}


def test_a_provider_cancel_of_a_confirmed_booking_releases_the_credit() -> None:
    world, booking, account = confirmed()
    booking.cancel(account, world.calendar, "", False, world.provider, booking.free_until + SECOND)
    assert (booking.status, account.balance()) == (CANCELLED, balance(available=1))


def test_confirmation_expiry_releases_the_credit_and_the_slot() -> None:
    world, booking, account = reserved()
    assert booking.record_deadline(
        CONFIRMATION, booking.confirm_by, account, world.calendar, booking.confirm_by
    )
    assert (booking.status, account.balance(), world.calendar.slots) == (EXPIRED, balance(available=1), {})


def test_a_provider_no_show_releases_the_credit() -> None:
    _, booking, account = confirmed()
    booking.report_no_show(account, "provider", MIA, START + timedelta(minutes=15))
    assert (booking.status, booking.absent_party, account.balance()) == (
        NO_SHOW,
        "provider",
        balance(available=1),
    )
    assert booking.forfeited == []


def test_a_member_no_show_forfeits_the_credit() -> None:
    world, booking, account = confirmed()
    booking.report_no_show(account, "member", world.provider, MEMBER_LATE)
    assert (booking.status, booking.absent_party, account.balance()) == (
        NO_SHOW,
        "member",
        balance(forfeited=1),
    )
    assert booking.forfeited == ["c1"]


def test_completing_consumes_the_credit() -> None:
    world, booking, account = confirmed()
    booking.record_member_joined(Actor("platform", "video"), START)
    booking.complete(account, world.provider, DURING)
    assert (booking.status, account.balance()) == (COMPLETED, balance(consumed=1))


def test_revoking_a_forfeit_restores_the_credit_and_leaves_a_trace() -> None:
    world, booking, account = confirmed()
    booking.report_no_show(account, "member", world.provider, MEMBER_LATE)
    world.collect_all(booking)
    booking.revoke_forfeit(account, "platform outage", OPERATOR, DURING + timedelta(hours=1))
    assert account.balance() == balance(available=1)
    assert (booking.status, booking.forfeited, booking.restored) == (NO_SHOW, [], ["c1"])
    events = world.collect(booking, account)
    assert [type(e).__name__ for e in events] == ["ForfeitRevoked", "CreditRestored"]
    assert all(e.actor == "operator:olga" for e in events)
    with unchanged(booking, account, code="invalid_transition"):
        booking.revoke_forfeit(account, "again", OPERATOR, DURING + timedelta(hours=2))


def test_revoking_after_a_late_reschedule_restores_the_old_credit_only() -> None:
    world, booking, account = confirmed(credits=2)
    booking.reschedule(account, world.calendar, START + timedelta(days=1), True, MIA, booking.free_until)
    booking.revoke_forfeit(account, "goodwill", OPERATOR, booking.free_until)
    assert (account.credit("c1") or {})["status"] == "available"
    assert account.credit("c2") == {"source": "purchase", "status": "held", "booking_id": str(booking.id)}
    assert booking.credit_id == "c2"


def test_credits_come_from_purchase_insurance_or_employer_only() -> None:
    world = World()
    world.member("mia", credits=0)
    account = world.accounts["mia"]
    for source in ("purchase", "insurance", "employer"):
        account.add(source, 2, "ref", SYSTEM, world.now)
    assert account.balance() == balance(available=6)
    assert {s: b["available"] for s, b in account.balance_by_source().items()} == {
        "purchase": 2,
        "insurance": 2,
        "employer": 2,
    }
    for source, count, reference in (
        ("gift", 1, ""),
        ("purchase", 0, ""),
        ("purchase", 1001, ""),
        ("purchase", True, ""),
        ("purchase", 1, "x" * 201),
    ):
        with unchanged(account, code="invalid_input"):
            account.add(source, count, reference, SYSTEM, world.now)


# --- deadline events -------------------------------------------------------------------------


def test_no_deadline_is_recorded_before_it_is_due() -> None:
    world, booking, account = confirmed()
    for kind, due in ((FREE_CANCELLATION, booking.free_until), (SESSION_END, booking.session_end_due)):
        assert not booking.record_deadline(kind, due, account, world.calendar, due - SECOND)
    world2, pending, account2 = reserved()
    assert not pending.record_deadline(
        CONFIRMATION, pending.confirm_by, account2, world2.calendar, pending.confirm_by - SECOND
    )
    assert booking.pending_events[-1].__class__ is Booking.ProviderConfirmed
    assert pending.status == PENDING


@pytest.mark.parametrize("kind", DEADLINE_KINDS)
def test_a_deadline_is_never_recorded_twice(kind: str) -> None:
    world, booking, account = reserved() if kind == CONFIRMATION else confirmed()
    due = {
        CONFIRMATION: booking.confirm_by,
        FREE_CANCELLATION: booking.free_until,
        SESSION_END: booking.session_end_due,
        REMINDER: booking.reminder_due,
    }[kind]
    assert due is not None
    assert booking.record_deadline(kind, due, account, world.calendar, due)
    world.collect_all(booking)
    assert not booking.record_deadline(kind, due, account, world.calendar, due + timedelta(hours=1))
    assert booking.pending_events == [] and account.pending_events == []


def test_the_free_cancellation_close_is_recorded_and_changes_no_decision() -> None:
    world, booking, account = confirmed()
    assert booking.record_deadline(
        FREE_CANCELLATION,
        booking.free_until,
        account,
        world.calendar,
        booking.free_until + timedelta(minutes=5),
    )
    assert booking.status == CONFIRMED
    assert booking.pending_deadlines() == [
        (REMINDER, booking.reminder_due),
        (SESSION_END, booking.session_end_due),
    ]


@pytest.mark.parametrize("kind", DEADLINE_KINDS)
def test_only_an_expiry_or_a_sessions_end_needs_the_account_and_the_calendar(kind: str) -> None:
    world, booking, account = reserved() if kind == CONFIRMATION else confirmed()
    due = dict(booking.pending_deadlines())[kind]
    world.collect_all(booking)
    if needs_ledger(kind):
        with pytest.raises(ValueError, match="needs the member's account"):
            booking.record_deadline(kind, due, None, None, due)
        assert booking.pending_events == []  # a refusal records nothing
        assert booking.record_deadline(kind, due, account, world.calendar, due)
        assert account.pending_events != []  # the credit moved
    else:
        assert booking.record_deadline(kind, due, None, None, due)
        assert [type(e) for e in booking.pending_events] == [
            Booking.FreeCancellationClosed if kind == FREE_CANCELLATION else Booking.SessionReminderDue
        ]
    assert needs_ledger(kind) == (kind in (CONFIRMATION, SESSION_END))


def test_deadlines_made_stale_by_a_reschedule_record_nothing() -> None:
    world, booking, account = confirmed()
    old = dict(confirm_by=booking.confirm_by, free_until=booking.free_until, end=booking.session_end_due)
    booking.reschedule(account, world.calendar, START + timedelta(days=3), False, MIA, world.now)
    world.collect_all(booking)
    later = START + timedelta(days=1)
    for kind, due in (
        (CONFIRMATION, old["confirm_by"]),
        (FREE_CANCELLATION, old["free_until"]),
        (SESSION_END, old["end"]),
    ):
        assert not booking.record_deadline(kind, due, account, world.calendar, later)
    assert booking.pending_events == [] and booking.status == PENDING
    assert booking.pending_deadlines() == [
        (CONFIRMATION, booking.confirm_by),
        (FREE_CANCELLATION, booking.free_until),
    ]


def test_deadlines_of_a_cancelled_or_confirmed_booking_record_nothing() -> None:
    world, booking, account = confirmed()
    assert not booking.record_deadline(CONFIRMATION, booking.confirm_by, account, world.calendar, START)
    booking.cancel(account, world.calendar, "", False, MIA, world.now)
    world.collect_all(booking)
    for kind, due in ((FREE_CANCELLATION, booking.free_until), (SESSION_END, booking.session_end_due)):
        assert not booking.record_deadline(kind, due, account, world.calendar, due)
    assert booking.pending_deadlines() == []
    assert booking.pending_events == []


def test_a_session_end_with_a_join_completes_and_consumes() -> None:
    world, booking, account = confirmed()
    booking.record_member_joined(Actor("platform", "video"), START)
    assert booking.record_deadline(
        SESSION_END, booking.session_end_due, account, world.calendar, booking.session_end_due
    )
    assert (booking.status, account.balance()) == (COMPLETED, balance(consumed=1))


def test_a_session_end_without_a_join_is_a_member_no_show_and_forfeits() -> None:
    world, booking, account = confirmed()
    assert booking.record_deadline(
        SESSION_END, booking.session_end_due, account, world.calendar, booking.session_end_due
    )
    assert (booking.status, booking.absent_party, account.balance()) == (
        NO_SHOW,
        "member",
        balance(forfeited=1),
    )
    assert booking.pending_events[-1].actor == "system:scheduler"  # type: ignore[attr-defined]


def test_an_unconfirmed_booking_has_no_session_end() -> None:
    world, booking, account = reserved()
    assert not booking.record_deadline(
        SESSION_END, booking.session_end_due, account, world.calendar, booking.session_end_due
    )
    assert booking.status == PENDING


def test_an_unknown_deadline_kind_is_invalid_input() -> None:
    world, booking, account = confirmed()
    with unchanged(booking, account, code="invalid_input"):
        booking.record_deadline("lunch", START, account, world.calendar, START)


def test_decisions_do_not_depend_on_whether_free_cancellation_closed_was_recorded() -> None:
    outcomes = []
    for record in (True, False):
        world, booking, account = confirmed()
        if record:
            assert booking.record_deadline(
                FREE_CANCELLATION, booking.free_until, account, world.calendar, booking.free_until
            )
        now = booking.free_until + SECOND
        review = booking.review_policy(now)
        with unchanged(booking, account, code="forfeit_not_acknowledged"):
            booking.cancel(account, world.calendar, "", False, MIA, now)
        booking.cancel(account, world.calendar, "", True, MIA, now)
        outcomes.append((review["cancel"], booking.status, account.balance()))
    assert outcomes[0] == outcomes[1] == ("forfeit", CANCELLED, balance(forfeited=1))


def test_a_pending_booking_stays_free_to_cancel_after_the_free_cancellation_close() -> None:
    world, booking, account = reserved()
    assert booking.record_deadline(
        FREE_CANCELLATION, booking.free_until, account, world.calendar, booking.free_until
    )
    booking.cancel(account, world.calendar, "", False, MIA, booking.free_until + SECOND)
    assert account.balance() == balance(available=1)


# --- the policy a booking lives by -----------------------------------------------------------


def test_the_policy_version_is_stable_and_names_the_numbers() -> None:
    assert Policy().version == Policy().version
    assert Policy.from_dict(Policy().to_dict()) == Policy()
    assert Policy(free_cancel_window=timedelta(hours=72)).version != Policy().version
    assert Policy(lengths=(30, 60)).version != Policy().version


def test_a_booking_keeps_the_policy_it_was_reserved_under() -> None:
    world, booking, account = reserved()
    assert (booking.policy_version, booking.policy) == (Policy().version, Policy())
    world.policy = Policy(
        free_cancel_window=timedelta(hours=72),
        confirm_window=timedelta(hours=36),
        min_notice=timedelta(hours=36),
    )
    new_start = START + timedelta(days=2)
    booking.reschedule(account, world.calendar, new_start, False, MIA, world.now)
    assert booking.free_until == new_start - timedelta(hours=48)
    assert booking.confirm_by == new_start - timedelta(hours=24)
    assert booking.policy_version == Policy().version


def test_a_booking_reserved_under_other_numbers_decides_with_them() -> None:
    policy = Policy(
        free_cancel_window=timedelta(hours=72),
        confirm_window=timedelta(hours=36),
        min_notice=timedelta(hours=36),
    )
    world, booking, _ = reserved(policy=policy)
    booking.confirm(world.provider, world.now)
    assert booking.free_until == START - timedelta(hours=72)
    assert booking.review_policy(START - timedelta(hours=60))["cancel"] == "forfeit"
    assert booking.policy_version == policy.version != Policy().version


@pytest.mark.parametrize(
    "numbers",
    [
        dict(min_notice=timedelta(hours=1)),
        dict(slot_step=timedelta(0)),
        dict(slot_step=timedelta(seconds=30)),
        dict(lengths=()),
        dict(lengths=(0,)),
        dict(horizon=timedelta(hours=-1)),
    ],
)
def test_inconsistent_policy_numbers_are_refused(numbers: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Policy(**numbers)  # type: ignore[arg-type]


# --- every event says who and when; replay rebuilds ------------------------------------------


def test_every_event_names_its_actor_and_the_commands_instant_and_replays_to_the_same_state() -> None:
    world, booking, account = confirmed(credits=2)
    steps = [
        (
            world.now + timedelta(hours=1),
            lambda now: booking.reschedule(
                account, world.calendar, START + timedelta(days=1), False, MIA, now
            ),
        ),
        (world.now + timedelta(hours=2), lambda now: booking.confirm(world.provider, now)),
        (
            START + timedelta(hours=1),
            lambda now: booking.reschedule(
                account, world.calendar, START + timedelta(days=3), True, MIA, now
            ),
        ),
        (START + timedelta(hours=2), lambda now: booking.confirm(world.provider, now)),
    ]
    world.collect_all(booking)
    for now, step in steps:
        step(now)
        events = world.collect_all(booking)
        assert events and all(e.timestamp == now for e in events)
        assert all(e.actor in ("member:mia", "provider:pat") for e in events)
    for aggregate in (booking, account, world.calendar):
        assert replay(world.history[aggregate.id]) == aggregate

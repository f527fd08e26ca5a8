"""Changes the member did not make never cost the member: an operator cancelling for them, a
provider's proposal they accept, and hours the provider removed over their booked session."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.actors import Actor
from domain.availability import Availability, weekly_hours
from domain.booking import CANCELLED, CONFIRMED, PENDING, Booking
from domain.policy import Policy
from tests.unit.domain.test_credits_and_deadlines import MIA, START, balance, confirmed, reserved
from tests.unit.domain.world import OPERATOR, World, unchanged

SECOND = timedelta(seconds=1)
LATER = START + timedelta(days=1)  # a start the provider could be booked at
PAT = Actor("provider", "pat")


def events(world: World, *aggregates: Any) -> list[str]:
    return [type(e).__name__ for e in world.collect(*aggregates)]


# --- operators act for the member -----------------------------------------------------------


def test_an_operator_cancels_for_the_member_free_even_a_second_before_the_start() -> None:
    world, booking, account = confirmed()
    world.collect_all(booking)
    booking.cancel(account, world.calendar, "member in hospital", False, OPERATOR, START - SECOND)
    assert (booking.status, account.balance()) == (CANCELLED, balance(available=1))
    assert events(world, booking, account) == ["CancelledForMember", "CreditReleased"]
    assert booking.forfeited == []


def test_an_operator_cancel_needs_a_reason_and_a_session_not_yet_started() -> None:
    world, booking, account = confirmed()
    with unchanged(booking, account, world.calendar, code="invalid_input"):
        booking.cancel(account, world.calendar, "  ", False, OPERATOR, world.now)
    with unchanged(booking, account, world.calendar, code="invalid_transition"):
        booking.cancel(account, world.calendar, "too late", False, OPERATOR, START)


# --- providers propose, members accept ------------------------------------------------------


def proposed(late: bool = False) -> tuple[World, Booking, Any, str]:
    world, booking, account = confirmed(credits=1)
    now = booking.free_until + SECOND if late else world.now
    proposal_id = booking.propose(world.calendar, LATER, PAT, now)
    world.collect_all(booking)
    return world.at(now), booking, account, proposal_id


def test_a_proposal_expires_when_its_start_could_no_longer_be_booked() -> None:
    world, booking, _, _ = proposed()
    policy = world.policy
    expires = LATER - max(policy.min_notice, policy.confirm_window + policy.min_confirm_time)
    assert booking.proposal is not None and booking.proposal["expires_at"] == expires
    assert booking.proposal_at(expires - SECOND)["status"] == "open"  # type: ignore[index]
    assert booking.proposal_at(expires)["status"] == "expired"  # type: ignore[index]


def test_accepting_a_proposal_after_the_48_hour_line_moves_the_session_confirmed_and_keeps_the_credit() -> (
    None
):
    world, booking, account, proposal_id = proposed(late=True)
    assert not booking.change_is_free(world.now)  # a member's own move would now forfeit
    booking.accept_proposal(account, world.calendar, proposal_id, MIA, world.now)
    assert (booking.status, booking.starts_at, booking.proposal) == (CONFIRMED, LATER, None)
    assert account.balance() == balance(held=1)
    assert booking.forfeited == []
    assert "ProposalAccepted" in events(world, booking)


def test_declining_changes_nothing_but_the_proposal() -> None:
    world, booking, account, proposal_id = proposed()
    booking.decline_proposal(proposal_id, MIA, world.now)
    assert (booking.status, booking.starts_at, booking.proposal) == (CONFIRMED, START, None)
    assert events(world, booking, account, world.calendar) == ["ProposalDeclined"]
    with unchanged(booking, account, code="invalid_transition"):
        booking.accept_proposal(account, world.calendar, proposal_id, MIA, world.now)


def test_a_proposal_is_accepted_until_a_second_before_it_expires() -> None:
    world, booking, account, proposal_id = proposed()
    expires = booking.proposal["expires_at"]  # type: ignore[index]
    with unchanged(booking, account, world.calendar, code="invalid_transition") as refusal:
        booking.accept_proposal(account, world.calendar, proposal_id, MIA, expires)
    assert "expired" in refusal.value.message
    booking.accept_proposal(account, world.calendar, proposal_id, MIA, expires - SECOND)
    assert booking.starts_at == LATER


@pytest.mark.parametrize(
    "change",
    [
        lambda w, b, a: b.reschedule(a, w.calendar, START + timedelta(hours=2), False, MIA, w.now),
        lambda w, b, a: b.propose(w.calendar, LATER + timedelta(hours=1), PAT, w.now),
    ],
    ids=["member reschedules", "provider proposes again"],
)
def test_any_other_change_supersedes_a_proposal(change: Any) -> None:
    world, booking, account, proposal_id = proposed()
    change(world, booking, account)
    with unchanged(booking, account, world.calendar, code="invalid_transition") as refusal:
        booking.accept_proposal(account, world.calendar, proposal_id, MIA, world.now)
    assert "superseded" in refusal.value.message


def test_only_the_provider_proposes_only_the_member_answers_and_unknown_proposals_are_not_found() -> None:
    world, booking, account, proposal_id = proposed()
    with unchanged(booking, world.calendar, code="not_allowed"):
        booking.propose(world.calendar, LATER, MIA, world.now)
    with unchanged(booking, account, code="not_allowed"):
        booking.accept_proposal(account, world.calendar, proposal_id, PAT, world.now)
    with unchanged(booking, code="not_allowed"):
        booking.decline_proposal(proposal_id, OPERATOR, world.now)
    with unchanged(booking, account, code="not_found"):
        booking.accept_proposal(account, world.calendar, "no-such-proposal", MIA, world.now)


def test_a_proposal_must_be_a_start_the_provider_could_be_booked_at() -> None:
    world, booking, _ = confirmed()
    too_soon = world.now + world.policy.min_notice - timedelta(minutes=15)
    with unchanged(booking, world.calendar, code="too_late_to_book"):
        booking.propose(world.calendar, too_soon, PAT, world.now)
    with unchanged(booking, world.calendar, code="same_start"):
        booking.propose(world.calendar, START, PAT, world.now)


# --- hours removed over a booked session ----------------------------------------------------


def test_hours_removed_over_a_session_make_the_member_s_changes_free_and_restored_hours_undo_it() -> None:
    world, booking, account = confirmed()
    late = booking.free_until + SECOND
    assert not booking.change_is_free(late)
    mornings = weekly_hours("UTC", "00:00", "09:00")
    world.calendar.publish(mornings, PAT, world.now)
    hours = world.calendar.availability
    booking.note_availability(Availability.recorded(hours).contains, PAT, world.now)  # type: ignore[arg-type]
    assert booking.outside_availability and booking.change_is_free(late)
    assert booking.review_policy(late)["cancel"] == "free"
    booking.cancel(account, world.calendar, "", False, MIA, late)
    assert (booking.status, account.balance()) == (CANCELLED, balance(available=1))


def test_a_pending_session_left_outside_may_still_be_confirmed_by_the_provider() -> None:
    world, booking, _ = reserved()
    booking.note_availability(
        Availability.recorded(weekly_hours("UTC", "00:00", "01:00")).contains, PAT, world.now
    )
    assert booking.outside_availability and booking.status == PENDING
    booking.confirm(PAT, world.now)
    assert booking.status == CONFIRMED


def test_a_policy_of_short_windows_expires_a_proposal_seconds_ahead() -> None:
    policy = Policy(
        min_notice=timedelta(seconds=60),
        confirm_window=timedelta(seconds=30),
        min_confirm_time=timedelta(seconds=10),
        free_cancel_window=timedelta(seconds=90),
        horizon=timedelta(days=60),
    )
    world = World(policy)
    world.member("mia")
    booking = world.reserve("mia", START)
    proposal_id = booking.propose(world.calendar, START + timedelta(hours=1), PAT, world.now)
    assert booking.proposal is not None
    assert booking.proposal["expires_at"] == START + timedelta(hours=1) - timedelta(seconds=60)
    assert proposal_id in booking.proposal_ids

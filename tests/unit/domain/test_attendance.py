"""Attendance is decided by what happened, not by who reports first: each party's presence is
recorded, the member has a late grace before the provider may report them absent, a session is
completed only if the member joined, and a present provider is never reported absent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.actors import Actor
from domain.booking import COMPLETED, CONFIRMED, NO_SHOW, SESSION_END, Booking
from domain.policy import Policy
from tests.unit.domain.world import OPERATOR, World, unchanged

START = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MIA = Actor("member", "mia")
PLATFORM = Actor("platform", "video")
PAT = Actor("provider", "pat")


def confirmed(policy: Policy | None = None) -> tuple[World, Booking]:
    world = World(policy)
    world.member("mia")
    booking = world.reserve("mia", START)
    booking.confirm(world.provider, world.now)
    world.collect_all(booking)
    return world, booking


def test_a_member_reported_absent_one_second_after_the_start_is_refused_naming_when_it_becomes_possible() -> (
    None
):
    world, booking = confirmed()
    account = world.account_of(booking)
    grace_ends = START + world.policy.member_late_grace
    with unchanged(booking, account, code="invalid_transition") as refusal:
        booking.report_no_show(account, "member", world.provider, START + SECOND)
    assert "2026-03-06T10:15:00Z" in refusal.value.message
    booking.record_member_joined(PLATFORM, START + 2 * SECOND)  # the member's join still counts
    assert booking.joined_at == START + 2 * SECOND
    with unchanged(booking, account, code="invalid_transition"):
        booking.report_no_show(account, "member", world.provider, grace_ends)


def test_the_member_is_reported_absent_from_the_end_of_the_late_grace_not_a_second_before() -> None:
    world, booking = confirmed()
    account = world.account_of(booking)
    grace_ends = START + timedelta(minutes=15)
    with unchanged(booking, account, code="invalid_transition"):
        booking.report_no_show(account, "member", world.provider, grace_ends - SECOND)
    booking.report_no_show(account, "member", world.provider, grace_ends)
    assert (booking.status, booking.absent_party) == (NO_SHOW, "member")


def test_a_short_late_grace_is_the_booking_s_own_number() -> None:
    world, booking = confirmed(Policy(member_late_grace=timedelta(seconds=5)))
    account = world.account_of(booking)
    with unchanged(booking, account, code="invalid_transition"):
        booking.report_no_show(account, "member", world.provider, START + 4 * SECOND)
    booking.report_no_show(account, "member", world.provider, START + 5 * SECOND)
    assert booking.status == NO_SHOW


def test_a_booking_recorded_before_the_member_late_grace_existed_keeps_its_release_s_rule() -> None:
    """Releases before the number let the provider report the member absent from the start."""
    numbers = Policy().to_dict()
    del numbers["member_late_grace"]
    old = Policy.from_dict(numbers)
    assert old.member_late_grace == timedelta(0)
    state = {"policy": dict(numbers)}
    Booking.SessionReserved.upcast_v2_v3(state)
    assert state["policy"]["member_late_grace"] == "PT0S"
    world, booking = confirmed(old)
    account = world.account_of(booking)
    with unchanged(booking, account, code="invalid_transition"):
        booking.report_no_show(account, "member", world.provider, START - SECOND)
    booking.report_no_show(account, "member", world.provider, START)
    assert booking.status == NO_SHOW


def test_a_session_the_member_never_joined_cannot_be_completed() -> None:
    world, booking = confirmed()
    account = world.account_of(booking)
    with unchanged(booking, account, code="invalid_transition") as refusal:
        booking.complete(account, world.provider, START + timedelta(minutes=20))
    assert "join" in refusal.value.message
    booking.record_member_joined(MIA, START + timedelta(minutes=20))
    booking.complete(account, world.provider, START + timedelta(minutes=20))
    assert booking.status == COMPLETED


def test_a_present_provider_cannot_be_reported_absent_by_the_member_or_an_operator() -> None:
    world, booking = confirmed()
    account = world.account_of(booking)
    booking.record_joined("provider", PAT, START - SECOND)
    assert booking.provider_joined_at == START - SECOND
    late = START + world.policy.provider_late_grace
    for reporter in (MIA, OPERATOR):
        with unchanged(booking, account, code="invalid_transition") as refusal:
            booking.report_no_show(account, "provider", reporter, late)
        assert "provider's presence was recorded at 2026-03-06T09:59:59Z" in refusal.value.message
    booking.record_member_joined(MIA, late)
    assert "no-show" not in booking.allowed_actions(late)  # neither party was absent


def test_without_the_provider_s_presence_the_member_may_report_them_absent_after_their_grace() -> None:
    world, booking = confirmed()
    account = world.account_of(booking)
    late = START + world.policy.provider_late_grace
    with unchanged(booking, account, code="invalid_transition"):
        booking.report_no_show(account, "provider", MIA, late - SECOND)
    booking.report_no_show(account, "provider", MIA, late)
    assert (booking.status, booking.absent_party) == (NO_SHOW, "provider")


@pytest.mark.parametrize("actor", [PAT, PLATFORM])
def test_the_provider_or_the_platform_records_the_provider_s_presence_once(actor: Actor) -> None:
    world, booking = confirmed()
    booking.record_joined("provider", actor, START)
    assert [type(e).__name__ for e in world.collect(booking)] == ["ProviderJoined"]
    booking.record_joined("provider", actor, START + SECOND)
    assert booking.pending_events == []
    assert booking.provider_joined_at == START


@pytest.mark.parametrize("actor", [MIA, OPERATOR, Actor("provider", "quinn"), Actor("system", "bridge")])
def test_no_one_else_records_the_provider_s_presence(actor: Actor) -> None:
    _, booking = confirmed()
    with unchanged(booking, code="not_allowed"):
        booking.record_joined("provider", actor, START)


def test_the_provider_s_presence_is_recorded_only_inside_the_join_window() -> None:
    world, booking = confirmed()
    opens = START - world.policy.join_opens_before
    with unchanged(booking, code="invalid_transition"):
        booking.record_joined("provider", PAT, opens - SECOND)
    with unchanged(booking, code="invalid_transition"):
        booking.record_joined("provider", PAT, booking.session_end_due)
    booking.record_joined("provider", PAT, opens)
    assert booking.provider_joined_at == opens


def test_at_the_session_end_a_join_completes_and_none_is_the_member_s_no_show_whoever_was_present() -> None:
    world, joined = confirmed()
    joined.record_member_joined(PLATFORM, START)
    due = joined.session_end_due
    assert joined.record_deadline(SESSION_END, due, world.account_of(joined), world.calendar, due)
    assert joined.status == COMPLETED
    world, absent = confirmed()
    absent.record_joined("provider", PAT, START)
    assert absent.record_deadline(SESSION_END, due, world.account_of(absent), world.calendar, due)
    assert (absent.status, absent.absent_party) == (NO_SHOW, "member")


def test_a_reschedule_forgets_both_parties_presence() -> None:
    world, booking = confirmed()
    assert booking.status == CONFIRMED
    opens = START - world.policy.join_opens_before
    booking.record_joined("provider", PAT, opens)
    assert booking.provider_joined_at == opens
    world2, fresh = confirmed()
    fresh.reschedule(
        world2.account_of(fresh), world2.calendar, START + timedelta(days=1), True, MIA, world2.now
    )
    assert (fresh.joined_at, fresh.provider_joined_at) == (None, None)


def test_an_unknown_party_is_invalid_input() -> None:
    _, booking = confirmed()
    with unchanged(booking, code="invalid_input"):
        booking.record_joined("nobody", PLATFORM, START)

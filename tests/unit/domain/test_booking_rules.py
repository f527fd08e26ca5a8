"""The booking rules at their boundaries: notice, horizon, grid, lengths, formats, overlap,
the confirmation deadline and the free-cancellation cut-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.actors import Actor
from domain.booking import CANCELLED, CONFIRMED, PENDING, Booking
from domain.errors import InvalidInput
from domain.policy import Policy
from tests.unit.domain.world import MONDAY, World, unchanged

START = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)  # Friday, 4 days and 1 hour after MONDAY
SECOND = timedelta(seconds=1)


def reserved(world: World | None = None, member: str = "mia", credits: int = 1) -> tuple[World, Booking]:
    world = world or World()
    world.member(member, credits)
    booking = world.reserve(member, START)
    return world, booking


def confirmed() -> tuple[World, Booking]:
    world, booking = reserved()
    booking.confirm(world.provider, world.now)
    return world, booking


# --- reserve ---------------------------------------------------------------------------------


def test_a_reservation_holds_the_slot_and_the_oldest_credit_and_records_its_deadlines() -> None:
    world, booking = reserved(credits=2)
    assert booking.status == PENDING
    assert booking.confirm_by == START - timedelta(hours=24)
    assert booking.free_until == START - timedelta(hours=48)
    assert booking.session_end_due == START + timedelta(minutes=45 + 30)
    assert world.accounts["mia"].credit("c1") == {
        "source": "purchase",
        "status": "held",
        "booking_id": str(booking.id),
    }
    assert world.accounts["mia"].balance() == {"available": 1, "held": 1, "consumed": 0, "forfeited": 0}
    assert world.calendar.slots[str(booking.id)] == [START, START + timedelta(minutes=45)]


def test_exactly_the_minimum_notice_ahead_is_accepted() -> None:
    world = World(Policy(min_notice=timedelta(hours=48))).at(START - timedelta(hours=48))
    world.member("mia")
    assert world.reserve("mia", START).status == PENDING


def test_one_second_less_than_the_minimum_notice_is_too_late_to_book() -> None:
    world = World(Policy(min_notice=timedelta(hours=48))).at(START - timedelta(hours=48) + SECOND)
    world.member("mia")
    with unchanged(world.calendar, world.accounts["mia"], code="too_late_to_book"):
        world.reserve("mia", START)


def test_a_start_leaving_the_provider_exactly_the_minimum_time_to_confirm_is_accepted() -> None:
    world = World().at(START - timedelta(hours=25))
    world.member("mia")
    booking = world.reserve("mia", START)
    assert booking.confirm_by - world.now == timedelta(hours=1)


def test_a_start_leaving_the_provider_less_than_the_minimum_time_to_confirm_is_too_late_to_book() -> None:
    world = World().at(START - timedelta(hours=25) + SECOND)
    world.member("mia")
    with unchanged(world.calendar, world.accounts["mia"], code="too_late_to_book"):
        world.reserve("mia", START)


def test_a_start_in_the_past_is_too_late_to_book() -> None:
    world = World().at(START + timedelta(hours=1))
    world.member("mia")
    with unchanged(world.calendar, world.accounts["mia"], code="too_late_to_book"):
        world.reserve("mia", START)


def test_exactly_the_horizon_ahead_is_accepted_and_one_grid_step_more_is_too_far() -> None:
    world = World()
    world.member("mia", credits=2)
    assert world.reserve("mia", MONDAY + timedelta(days=60)).status == PENDING
    with unchanged(world.calendar, world.accounts["mia"], code="too_far_ahead"):
        world.reserve("mia", MONDAY + timedelta(days=60, minutes=15))


def test_one_second_past_the_horizon_is_too_far_ahead() -> None:
    world = World().at(MONDAY - SECOND)
    world.member("mia")
    with unchanged(world.calendar, world.accounts["mia"], code="too_far_ahead"):
        world.reserve("mia", MONDAY + timedelta(days=60))


@pytest.mark.parametrize("offset", [timedelta(minutes=5), timedelta(seconds=1), timedelta(minutes=14)])
def test_a_start_off_the_slot_grid_is_outside_availability(offset: timedelta) -> None:
    world = World()
    world.member("mia")
    with unchanged(world.calendar, world.accounts["mia"], code="outside_availability"):
        world.reserve("mia", START + offset)


def test_every_grid_step_is_offered_and_bookable() -> None:
    world = World()
    world.member("mia", credits=4)
    for quarter in range(4):
        world.reserve("mia", START + timedelta(minutes=60 * quarter + 15 * quarter), length=30)
    assert len(world.calendar.slots) == 4


def test_a_coarser_configured_grid_refuses_starts_between_its_steps() -> None:
    world = World(policy=Policy(slot_step=timedelta(minutes=30)))
    world.member("mia", credits=2)
    with unchanged(world.calendar, code="outside_availability"):
        world.reserve("mia", START + timedelta(minutes=15))
    assert world.reserve("mia", START + timedelta(minutes=30)).status == PENDING


@pytest.mark.parametrize("length", [30, 45, 60])
def test_each_allowed_length_can_be_booked(length: int) -> None:
    world = World()
    world.member("mia")
    booking = world.reserve("mia", START, length=length)
    assert booking.ends_at - booking.starts_at == timedelta(minutes=length)
    assert booking.length_minutes == length


@pytest.mark.parametrize("length", [0, 15, 29, 90, -45, True, "45", 45.0, None])
def test_any_other_length_is_invalid_input(length: object) -> None:
    world = World()
    world.member("mia")
    with unchanged(world.calendar, world.accounts["mia"], code="invalid_input"):
        world.reserve("mia", START, length=length)  # type: ignore[arg-type]


def test_configured_lengths_replace_the_defaults() -> None:
    world = World(policy=Policy(lengths=(50,)))
    world.member("mia", credits=2)
    with unchanged(world.calendar, code="invalid_input"):
        world.reserve("mia", START, length=45)
    assert world.reserve("mia", START, length=50).length_minutes == 50


@pytest.mark.parametrize("format", ["video", "audio", "chat"])
def test_each_format_can_be_booked(format: str) -> None:
    world = World()
    world.member("mia")
    assert world.reserve("mia", START, format=format).format == format


@pytest.mark.parametrize("format", ["phone", "", "VIDEO", None])
def test_any_other_format_is_invalid_input(format: object) -> None:
    world = World()
    world.member("mia")
    with unchanged(world.calendar, world.accounts["mia"], code="invalid_input"):
        world.reserve("mia", START, format=format)  # type: ignore[arg-type]


def test_an_overlapping_session_of_the_same_provider_is_slot_unavailable() -> None:
    world, _ = reserved()  # 10:00-10:45
    world.member("max")
    for start in (START, START + timedelta(minutes=30), START - timedelta(minutes=30)):
        with unchanged(world.calendar, world.accounts["max"], code="slot_unavailable"):
            world.reserve("max", start)


def test_back_to_back_sessions_do_not_overlap() -> None:
    world, _ = reserved()  # 10:00-10:45
    world.member("max", credits=2)
    world.member("mo")
    assert world.reserve("max", START + timedelta(minutes=45)).status == PENDING
    assert world.reserve("mo", START - timedelta(minutes=45)).status == PENDING


def test_a_released_slot_can_be_booked_again() -> None:
    world, booking = reserved()
    booking.decline(world.account_of(booking), world.calendar, "", world.provider, world.now)
    world.member("max")
    assert world.reserve("max", START).status == PENDING


def test_a_member_without_an_available_credit_cannot_reserve() -> None:
    world = World()
    world.member("mia", credits=0)
    with unchanged(world.calendar, world.accounts["mia"], code="no_credit_available"):
        world.reserve("mia", START)


def test_a_member_whose_only_credit_is_held_cannot_reserve_again() -> None:
    world, _ = reserved()
    with unchanged(world.calendar, world.accounts["mia"], code="no_credit_available"):
        world.reserve("mia", START + timedelta(hours=2))


def test_only_the_rooms_member_may_reserve() -> None:
    world = World()
    world.member("mia")
    world.member("max")
    for actor in (Actor("member", "max"), world.provider, Actor("operator", "o")):
        with unchanged(world.calendar, world.accounts["mia"], code="not_allowed"):
            Booking.reserve(
                world.rooms["mia"],
                world.accounts["mia"],
                world.calendar,
                START,
                45,
                "video",
                world.policy,
                actor,
                world.now,
            )


# --- confirm ---------------------------------------------------------------------------------


def test_the_provider_can_confirm_one_second_before_the_confirmation_deadline() -> None:
    world, booking = reserved()
    booking.confirm(world.provider, booking.confirm_by - SECOND)
    assert booking.status == CONFIRMED


def test_confirming_exactly_at_the_confirmation_deadline_is_refused() -> None:
    world, booking = reserved()
    with unchanged(booking, code="invalid_transition"):
        booking.confirm(world.provider, booking.confirm_by)


def test_every_accepted_start_can_still_be_confirmed_for_the_minimum_time() -> None:
    world = World().at(START - timedelta(hours=25))
    world.member("mia")
    booking = world.reserve("mia", START)
    world.advance(timedelta(hours=1) - SECOND)
    booking.confirm(world.provider, world.now)
    assert booking.status == CONFIRMED


# --- the free-cancellation cut-off -----------------------------------------------------------


def test_cancelling_one_second_before_free_until_is_free() -> None:
    world, booking = confirmed()
    account = world.account_of(booking)
    booking.cancel(account, world.calendar, "", False, Actor("member", "mia"), booking.free_until - SECOND)
    assert booking.status == CANCELLED
    assert account.balance()["available"] == 1
    assert str(booking.id) not in world.calendar.slots


@pytest.mark.parametrize("inside", [timedelta(0), SECOND, timedelta(hours=47, minutes=59, seconds=59)])
def test_cancelling_at_or_after_free_until_needs_the_forfeit_acknowledged(inside: timedelta) -> None:
    world, booking = confirmed()
    account = world.account_of(booking)
    now = booking.free_until + inside
    with unchanged(booking, account, world.calendar, code="forfeit_not_acknowledged") as _:
        booking.cancel(account, world.calendar, "", False, Actor("member", "mia"), now)
    booking.cancel(account, world.calendar, "", True, Actor("member", "mia"), now)
    assert booking.status == CANCELLED
    assert booking.forfeited == ["c1"]
    assert account.balance() == {"available": 0, "held": 0, "consumed": 0, "forfeited": 1}
    assert str(booking.id) not in world.calendar.slots


def test_the_refusal_states_the_policy_and_the_cut_off() -> None:
    world, booking = confirmed()
    with pytest.raises(Exception) as refusal:
        booking.cancel(
            world.account_of(booking), world.calendar, "", False, Actor("member", "mia"), booking.free_until
        )
    assert "2026-03-04T10:00:00Z" in str(refusal.value)
    assert "48 hours" in str(refusal.value)
    assert "accept_forfeit" in str(refusal.value)


def test_an_unconfirmed_booking_is_free_to_cancel_inside_the_48_hour_window() -> None:
    world, booking = reserved()
    account = world.account_of(booking)
    booking.cancel(account, world.calendar, "", False, Actor("member", "mia"), booking.confirm_by - SECOND)
    assert booking.status == CANCELLED
    assert booking.forfeited == []
    assert account.balance()["available"] == 1


def test_an_unconfirmed_booking_counts_as_expired_from_its_deadline_before_the_scheduler_records_it() -> None:
    world, booking = reserved()
    account = world.account_of(booking)
    member = Actor("member", "mia")
    assert booking.status_at(booking.confirm_by) == "expired"
    assert booking.allowed_actions(booking.confirm_by) == ()
    with unchanged(booking, account, world.calendar, code="invalid_transition"):
        booking.cancel(account, world.calendar, "", False, member, booking.confirm_by)
    with unchanged(booking, account, world.calendar, code="invalid_transition"):
        booking.decline(account, world.calendar, "", world.provider, booking.confirm_by)


def test_nobody_can_cancel_once_the_session_has_started() -> None:
    world, booking = confirmed()
    account = world.account_of(booking)
    for actor in (Actor("member", "mia"), world.provider):
        with unchanged(booking, account, world.calendar, code="invalid_transition"):
            booking.cancel(account, world.calendar, "", True, actor, START)


def test_a_provider_cancel_inside_the_window_is_free_for_the_member() -> None:
    world, booking = confirmed()
    account = world.account_of(booking)
    booking.cancel(account, world.calendar, "sick", False, world.provider, START - SECOND)
    assert booking.status == CANCELLED
    assert account.balance() == {"available": 1, "held": 0, "consumed": 0, "forfeited": 0}


def test_review_policy_tells_the_member_what_a_change_would_do_now() -> None:
    world, booking = confirmed()
    early = booking.review_policy(booking.free_until - SECOND)
    late = booking.review_policy(booking.free_until)
    over = booking.review_policy(START)
    assert (early["cancel"], early["change_is_free"], early["requires_accept_forfeit"]) == (
        "free",
        True,
        False,
    )
    assert (late["cancel"], late["change_is_free"], late["requires_accept_forfeit"]) == (
        "forfeit",
        False,
        True,
    )
    assert over["cancel"] == "not_allowed"
    assert early["policy_version"] == world.policy.version


# --- reschedule ------------------------------------------------------------------------------


def test_an_early_reschedule_keeps_the_credit_and_needs_confirming_again() -> None:
    world, booking = confirmed()
    account = world.account_of(booking)
    later = START + timedelta(days=1)
    booking.reschedule(
        account, world.calendar, later, False, Actor("member", "mia"), booking.free_until - SECOND
    )
    assert booking.status == PENDING
    assert (booking.starts_at, booking.credit_id) == (later, "c1")
    assert booking.confirm_by == later - timedelta(hours=24)
    assert booking.free_until == later - timedelta(hours=48)
    assert world.calendar.slots[str(booking.id)] == [later, later + timedelta(minutes=45)]
    assert account.balance()["held"] == 1


def test_a_reschedule_may_overlap_its_own_previous_slot() -> None:
    world, booking = reserved()
    booking.reschedule(
        world.account_of(booking),
        world.calendar,
        START + timedelta(minutes=15),
        False,
        Actor("member", "mia"),
        world.now,
    )
    assert booking.starts_at == START + timedelta(minutes=15)


def test_a_late_reschedule_forfeits_the_old_credit_and_holds_a_new_one() -> None:
    world, booking = reserved(credits=2)
    booking.confirm(world.provider, world.now)
    account = world.account_of(booking)
    now = booking.free_until
    later = START + timedelta(days=2)
    with unchanged(booking, account, world.calendar, code="forfeit_not_acknowledged"):
        booking.reschedule(account, world.calendar, later, False, Actor("member", "mia"), now)
    booking.reschedule(account, world.calendar, later, True, Actor("member", "mia"), now)
    assert booking.status == PENDING
    assert booking.credit_id == "c2"
    assert booking.forfeited == ["c1"]
    assert (account.credit("c1") or {})["status"] == "forfeited"
    assert account.credit("c2") == {"source": "purchase", "status": "held", "booking_id": str(booking.id)}


def test_a_late_reschedule_without_another_credit_is_refused() -> None:
    world, booking = confirmed()
    account = world.account_of(booking)
    with unchanged(booking, account, world.calendar, code="no_credit_available"):
        booking.reschedule(
            account,
            world.calendar,
            START + timedelta(days=2),
            True,
            Actor("member", "mia"),
            booking.free_until,
        )


def test_the_new_time_of_a_reschedule_obeys_the_booking_rules() -> None:
    world, booking = reserved()
    world.member("max")
    other = world.reserve("max", START + timedelta(days=1))
    account = world.account_of(booking)
    cases = {
        "too_late_to_book": world.now + timedelta(hours=1),
        "too_far_ahead": world.now + timedelta(days=61),
        "outside_availability": START + timedelta(minutes=7),
        "slot_unavailable": other.starts_at,
    }
    for code, new_start in cases.items():
        with unchanged(booking, account, world.calendar, code=code):
            booking.reschedule(account, world.calendar, new_start, False, Actor("member", "mia"), world.now)


def test_nobody_can_reschedule_once_the_session_has_started() -> None:
    world, booking = confirmed()
    account = world.account_of(booking)
    with unchanged(booking, account, world.calendar, code="invalid_transition"):
        booking.reschedule(
            account, world.calendar, START + timedelta(days=3), True, Actor("member", "mia"), START
        )


def test_party_ids_with_control_characters_are_refused() -> None:
    from domain.credits import CreditAccount
    from domain.room import Room

    for bad in ("a\x00b", "tab\there", ""):
        with pytest.raises(InvalidInput):
            Room.open(bad, "p1", Actor("system", "t"), MONDAY)
        with pytest.raises(InvalidInput):
            CreditAccount.open(bad, MONDAY)


def test_instants_outside_the_supported_range_are_refused_not_overflowed() -> None:
    from domain.time import to_utc

    for text in ("0001-01-01T00:00:00+00:00", "9999-12-31T23:59:00+00:00"):
        with pytest.raises(InvalidInput, match="must lie between"):
            to_utc(text, "starts_at")

"""The allowed actions are exactly the accepted commands: for random bookings (with or without
each party's recorded presence) and random instants (every boundary of the policy table among
them), an action is listed if and only if its command, run at that instant by a party allowed
to run it, is accepted."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from domain.actors import Actor
from domain.availability import align_up
from domain.booking import CONFIRMATION, SESSION_END, Booking
from domain.errors import BookingError
from domain.lifecycle import ACTIONS
from tests.unit.domain.world import World

SECOND = timedelta(seconds=1)
MIA = Actor("member", "mia")
PLATFORM = Actor("platform", "video")

Command = Callable[[World, Booking, datetime], None]


def _reschedule(world: World, booking: Booking, now: datetime) -> None:
    policy = world.policy
    new_start = align_up(policy.earliest_start(now), policy.slot_step)
    if new_start < booking.ends_at and booking.starts_at < new_start + timedelta(minutes=60):
        new_start = align_up(booking.ends_at, policy.slot_step)
    booking.reschedule(world.account_of(booking), world.calendar, new_start, True, MIA, now)


def _no_show(world: World, booking: Booking, now: datetime) -> None:
    """Accepted if either report is: the provider's of the member, or the member's of the provider."""
    for party, actor in (("member", world.provider), ("provider", MIA)):
        attempt = copy.deepcopy((world, booking))
        try:
            attempt[1].report_no_show(attempt[0].account_of(attempt[1]), party, actor, now)
            return
        except BookingError:
            continue
    raise BookingError("neither absence could be reported")


def _joined(world: World, booking: Booking, now: datetime) -> None:
    """Accepted if either party's presence may be recorded."""
    for party in ("member", "provider"):
        attempt = copy.deepcopy(booking)
        try:
            attempt.record_joined(party, PLATFORM, now)
            return
        except BookingError:
            continue
    raise BookingError("neither party's presence could be recorded")


COMMANDS: dict[str, Command] = {
    "confirm": lambda w, b, now: b.confirm(w.provider, now),
    "decline": lambda w, b, now: b.decline(w.account_of(b), w.calendar, "", w.provider, now),
    "reschedule": _reschedule,
    "cancel": lambda w, b, now: b.cancel(w.account_of(b), w.calendar, "", True, MIA, now),
    "joined": _joined,
    "complete": lambda w, b, now: b.complete(w.account_of(b), w.provider, now),
    "no-show": _no_show,
}


def accepted(world: World, booking: Booking, action: str, now: datetime) -> bool:
    world, booking = copy.deepcopy((world, booking))
    try:
        COMMANDS[action](world, booking, now)
    except BookingError:
        return False
    return True


def a_booking(
    confirmed: bool,
    joined_after_open: int | None,
    rescheduled: bool,
    expired: bool,
    provider_joined_after_open: int | None = None,
) -> tuple[World, Booking]:
    world = World()
    world.member("mia", credits=3)
    start = world.now + timedelta(days=4, hours=1)
    booking = world.reserve("mia", start)
    if rescheduled:
        booking.reschedule(
            world.account_of(booking), world.calendar, start + timedelta(hours=2), False, MIA, world.now
        )
    if expired:
        assert booking.record_deadline(
            CONFIRMATION, booking.confirm_by, world.account_of(booking), world.calendar, booking.confirm_by
        )
    elif confirmed:
        booking.confirm(world.provider, world.now)
        if joined_after_open is not None:
            opens = booking.starts_at - world.policy.join_opens_before
            booking.record_member_joined(PLATFORM, opens + timedelta(minutes=joined_after_open))
        if provider_joined_after_open is not None:
            opens = booking.starts_at - world.policy.join_opens_before
            booking.record_joined(
                "provider", world.provider, opens + timedelta(minutes=provider_joined_after_open)
            )
    return world, booking


def boundaries(booking: Booking, world: World) -> list[datetime]:
    p = world.policy
    marks = [
        booking.free_until,
        booking.confirm_by,
        booking.starts_at - p.join_opens_before,
        booking.starts_at,
        booking.starts_at + p.provider_late_grace,
        booking.starts_at + p.member_late_grace,
        booking.ends_at,
        booking.session_end_due,
    ]
    return [m + d for m in marks for d in (-SECOND, timedelta(0), SECOND)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    confirmed=st.booleans(),
    joined_after_open=st.none() | st.integers(0, 5),
    rescheduled=st.booleans(),
    expired=st.booleans(),
    provider_joined_after_open=st.none() | st.integers(0, 40),
    boundary=st.integers(0, 23),
    offset_minutes=st.integers(-3 * 24 * 60, 24 * 60),
    use_boundary=st.booleans(),
)
@example(
    confirmed=True,
    joined_after_open=None,
    rescheduled=False,
    expired=False,
    provider_joined_after_open=None,
    boundary=17,
    offset_minutes=0,
    use_boundary=True,
)
@example(  # the provider present from the start: the member absent at the member's grace
    confirmed=True,
    joined_after_open=None,
    rescheduled=False,
    expired=False,
    provider_joined_after_open=15,
    boundary=16,
    offset_minutes=0,
    use_boundary=True,
)
def test_an_action_is_listed_if_and_only_if_its_command_is_accepted_then(
    confirmed: bool,
    joined_after_open: int | None,
    rescheduled: bool,
    expired: bool,
    provider_joined_after_open: int | None,
    boundary: int,
    offset_minutes: int,
    use_boundary: bool,
) -> None:
    world, booking = a_booking(confirmed, joined_after_open, rescheduled, expired, provider_joined_after_open)
    if use_boundary:
        now = boundaries(booking, world)[boundary]
    else:
        now = booking.starts_at + timedelta(minutes=offset_minutes)
    for recorded in (booking.joined_at, booking.provider_joined_at):
        if recorded is not None and now < recorded:
            now = recorded  # a booking's history never lies in its future
    now = max(now, world.now)
    listed = set(booking.allowed_actions(now))
    for action in ACTIONS:
        assert (action in listed) == accepted(world, booking, action, now), (action, now, booking.status)


def test_a_confirmed_session_days_ahead_offers_no_attendance_actions() -> None:
    world, booking = a_booking(confirmed=True, joined_after_open=None, rescheduled=False, expired=False)
    assert booking.allowed_actions(world.now) == ("reschedule", "cancel")


def test_a_started_session_offers_no_reschedule_or_cancel() -> None:
    _, booking = a_booking(confirmed=True, joined_after_open=None, rescheduled=False, expired=False)
    assert booking.allowed_actions(booking.starts_at) == ("joined",)


def test_a_started_session_the_member_joined_may_be_completed_and_no_one_reported_absent_yet() -> None:
    _, booking = a_booking(confirmed=True, joined_after_open=15, rescheduled=False, expired=False)
    assert booking.allowed_actions(booking.starts_at) == ("joined", "complete")


def test_once_both_graces_passed_an_absent_party_may_be_reported_unless_present() -> None:
    world, booking = a_booking(confirmed=True, joined_after_open=None, rescheduled=False, expired=False)
    late = booking.starts_at + max(world.policy.member_late_grace, world.policy.provider_late_grace)
    assert booking.allowed_actions(late) == ("joined", "no-show")
    _, present = a_booking(
        confirmed=True,
        joined_after_open=20,
        rescheduled=False,
        expired=False,
        provider_joined_after_open=15,
    )
    assert present.allowed_actions(late) == ("joined", "complete")


def test_after_the_session_end_deadline_nothing_is_offered_whether_or_not_it_was_recorded() -> None:
    world, booking = a_booking(confirmed=True, joined_after_open=None, rescheduled=False, expired=False)
    due = booking.session_end_due
    assert booking.allowed_actions(due) == ()
    assert booking.status_at(due) == "no_show"
    booking.record_deadline(SESSION_END, due, world.account_of(booking), world.calendar, due)
    assert booking.allowed_actions(due) == ()

"""Every forbidden transition of the design's table is ``invalid_transition``, every wrong party
``not_allowed``, and neither records anything."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from domain.actors import SCHEDULER, Actor
from domain.booking import (
    CANCELLED,
    COMPLETED,
    CONFIRMATION,
    CONFIRMED,
    DECLINED,
    EXPIRED,
    NO_SHOW,
    PENDING,
    Booking,
)
from domain.errors import ERROR_TYPES
from domain.room import Room
from tests.unit.domain.world import OPERATOR, World, unchanged

START = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
DURING = START + timedelta(minutes=10)
PROVIDER_LATE = START + timedelta(minutes=15)
"""From when the provider may be reported absent (the policy's provider late grace)."""
MEMBER_LATE = START + timedelta(minutes=15)
"""From when the member may be reported absent (the policy's member late grace)."""
MIA = Actor("member", "mia")
PLATFORM = Actor("platform", "video")


def booking_in(status: str) -> tuple[World, Booking]:
    """A booking of member mia brought into ``status`` through allowed transitions."""
    world = World()
    world.member("mia")
    booking = world.reserve("mia", START)
    account = world.account_of(booking)
    if status in (CONFIRMED, COMPLETED, NO_SHOW):
        booking.confirm(world.provider, world.now)
    if status == DECLINED:
        booking.decline(account, world.calendar, "", world.provider, world.now)
    elif status == EXPIRED:
        assert booking.record_deadline(
            CONFIRMATION, booking.confirm_by, account, world.calendar, booking.confirm_by
        )
    elif status == CANCELLED:
        booking.cancel(account, world.calendar, "", False, MIA, world.now)
    elif status == COMPLETED:
        booking.record_member_joined(PLATFORM, START)
        booking.complete(account, world.provider, DURING)
    elif status == NO_SHOW:
        booking.report_no_show(account, "member", world.provider, MEMBER_LATE)
    assert booking.status == status
    world.collect_all(booking)
    return world, booking


Command = Callable[[World, Booking], None]


def _complete_joined(world: World, booking: Booking) -> None:
    """The provider completes a session the member joined (a join is refused, like the
    completion, in every status but confirmed)."""
    booking.record_member_joined(PLATFORM, START)
    booking.complete(world.account_of(booking), world.provider, DURING)


COMMANDS: dict[str, Command] = {
    "confirm": lambda w, b: b.confirm(w.provider, w.now),
    "decline": lambda w, b: b.decline(w.account_of(b), w.calendar, "", w.provider, w.now),
    "reschedule": lambda w, b: b.reschedule(
        w.account_of(b), w.calendar, START + timedelta(days=1), True, MIA, w.now
    ),
    "member cancel": lambda w, b: b.cancel(w.account_of(b), w.calendar, "", True, MIA, w.now),
    "provider cancel": lambda w, b: b.cancel(w.account_of(b), w.calendar, "", False, w.provider, w.now),
    "joined": lambda w, b: b.record_member_joined(PLATFORM, DURING),
    "complete": lambda w, b: _complete_joined(w, b),
    "complete without a join": lambda w, b: b.complete(w.account_of(b), w.provider, DURING),
    "member no-show": lambda w, b: b.report_no_show(w.account_of(b), "member", w.provider, MEMBER_LATE),
    "provider no-show": lambda w, b: b.report_no_show(w.account_of(b), "provider", MIA, PROVIDER_LATE),
}
ALLOWED = {
    PENDING: {"confirm", "decline", "reschedule", "member cancel", "provider cancel"},
    CONFIRMED: {
        "reschedule",
        "member cancel",
        "provider cancel",
        "joined",
        "complete",
        "member no-show",
        "provider no-show",
    },
}
FORBIDDEN = [
    (status, command)
    for status in (PENDING, CONFIRMED, DECLINED, EXPIRED, CANCELLED, COMPLETED, NO_SHOW)
    for command in COMMANDS
    if command not in ALLOWED.get(status, set())
]


@pytest.mark.parametrize(("status", "command"), FORBIDDEN)
def test_a_forbidden_transition_is_refused_and_records_nothing(status: str, command: str) -> None:
    world, booking = booking_in(status)
    with unchanged(booking, world.account_of(booking), world.calendar, code="invalid_transition"):
        COMMANDS[command](world, booking)


@pytest.mark.parametrize(("status", "command"), [(s, c) for s, cs in ALLOWED.items() for c in sorted(cs)])
def test_an_allowed_transition_is_accepted(status: str, command: str) -> None:
    world, booking = booking_in(status)
    COMMANDS[command](world, booking)
    assert booking.pending_events


@pytest.mark.parametrize("status", [PENDING, CONFIRMED, DECLINED, EXPIRED, CANCELLED, COMPLETED])
def test_revoking_without_a_forfeited_credit_is_an_invalid_transition(status: str) -> None:
    world, booking = booking_in(status)
    with unchanged(booking, world.account_of(booking), code="invalid_transition"):
        booking.revoke_forfeit(world.account_of(booking), "", OPERATOR, world.now)


def test_completing_or_reporting_a_no_show_before_the_start_is_refused() -> None:
    world, booking = booking_in(CONFIRMED)
    account = world.account_of(booking)
    before = START - timedelta(seconds=1)
    with unchanged(booking, account, code="invalid_transition"):
        booking.complete(account, world.provider, before)
    with unchanged(booking, account, code="invalid_transition"):
        booking.report_no_show(account, "member", world.provider, before)
    booking.record_member_joined(PLATFORM, before)
    booking.complete(account, world.provider, START)
    assert booking.status == COMPLETED


def test_a_join_is_recorded_from_fifteen_minutes_before_the_start_until_the_end_of_the_grace() -> None:
    _, booking = booking_in(CONFIRMED)
    opens = START - timedelta(minutes=15)
    with unchanged(booking, code="invalid_transition"):
        booking.record_member_joined(PLATFORM, opens - timedelta(seconds=1))
    with unchanged(booking, code="invalid_transition"):
        booking.record_member_joined(PLATFORM, booking.session_end_due)
    booking.record_member_joined(PLATFORM, opens)
    assert booking.joined_at == opens
    _, late = booking_in(CONFIRMED)
    late.record_member_joined(PLATFORM, late.session_end_due - timedelta(seconds=1))
    assert late.joined_at == late.session_end_due - timedelta(seconds=1)


def test_a_second_join_records_nothing_new() -> None:
    world, booking = booking_in(CONFIRMED)
    booking.record_member_joined(PLATFORM, START)
    world.collect(booking)
    booking.record_member_joined(PLATFORM, DURING)
    assert booking.pending_events == []
    assert booking.joined_at == START


# --- the wrong party -------------------------------------------------------------------------

OTHER_MEMBER = Actor("member", "max")
OTHER_PROVIDER = Actor("provider", "quinn")

WRONG_PARTIES: list[tuple[str, str, Actor]] = [
    (PENDING, "confirm", MIA),
    (PENDING, "confirm", OTHER_PROVIDER),
    (PENDING, "confirm", OPERATOR),
    (PENDING, "decline", MIA),
    (PENDING, "decline", OTHER_PROVIDER),
    (CONFIRMED, "reschedule", Actor("provider", "pat")),
    (CONFIRMED, "reschedule", OTHER_MEMBER),
    (CONFIRMED, "cancel", OTHER_MEMBER),
    (CONFIRMED, "cancel", OTHER_PROVIDER),
    (CONFIRMED, "cancel", Actor("platform", "video")),
    (CONFIRMED, "joined", Actor("provider", "pat")),
    (CONFIRMED, "joined", OTHER_MEMBER),
    (CONFIRMED, "complete", MIA),
    (CONFIRMED, "complete", OPERATOR),
    (CONFIRMED, "member no-show", MIA),
    (CONFIRMED, "member no-show", OTHER_PROVIDER),
    (CONFIRMED, "provider no-show", Actor("provider", "pat")),
    (CONFIRMED, "provider no-show", OTHER_MEMBER),
    (NO_SHOW, "revoke", MIA),
    (NO_SHOW, "revoke", Actor("provider", "pat")),
    (NO_SHOW, "revoke", SCHEDULER),
]

AS: dict[str, Callable[[World, Booking, Actor], None]] = {
    "confirm": lambda w, b, a: b.confirm(a, w.now),
    "decline": lambda w, b, a: b.decline(w.account_of(b), w.calendar, "", a, w.now),
    "reschedule": lambda w, b, a: b.reschedule(
        w.account_of(b), w.calendar, START + timedelta(days=1), True, a, w.now
    ),
    "cancel": lambda w, b, a: b.cancel(w.account_of(b), w.calendar, "", True, a, w.now),
    "joined": lambda w, b, a: b.record_member_joined(a, DURING),
    "complete": lambda w, b, a: b.complete(w.account_of(b), a, DURING),
    "member no-show": lambda w, b, a: b.report_no_show(w.account_of(b), "member", a, MEMBER_LATE),
    "provider no-show": lambda w, b, a: b.report_no_show(w.account_of(b), "provider", a, PROVIDER_LATE),
    "revoke": lambda w, b, a: b.revoke_forfeit(w.account_of(b), "", a, w.now),
}


@pytest.mark.parametrize(("status", "command", "actor"), WRONG_PARTIES, ids=lambda v: str(v))
def test_the_wrong_party_is_not_allowed_and_nothing_is_recorded(
    status: str, command: str, actor: Actor
) -> None:
    world, booking = booking_in(status)
    with unchanged(booking, world.account_of(booking), world.calendar, code="not_allowed"):
        AS[command](world, booking, actor)


def test_the_member_the_operator_and_the_platform_may_report_a_join() -> None:
    for actor in (MIA, OPERATOR, PLATFORM, Actor("system", "bridge")):
        _, booking = booking_in(CONFIRMED)
        booking.record_member_joined(actor, DURING)
        assert booking.joined_at == DURING


def test_an_operator_may_report_the_provider_absent() -> None:
    world, booking = booking_in(CONFIRMED)
    booking.report_no_show(world.account_of(booking), "provider", OPERATOR, PROVIDER_LATE)
    assert (booking.status, booking.absent_party) == (NO_SHOW, "provider")


def test_an_unknown_absent_party_is_invalid_input() -> None:
    world, booking = booking_in(CONFIRMED)
    with unchanged(booking, world.account_of(booking), code="invalid_input"):
        booking.report_no_show(world.account_of(booking), "nobody", world.provider, DURING)


def test_only_the_member_or_the_platform_side_may_open_a_room_and_add_credits() -> None:
    world = World()
    world.member("mia")
    with pytest.raises(Exception) as refusal:
        Room.open("mia", "pat", OTHER_MEMBER, world.now)
    assert getattr(refusal.value, "code", None) == "not_allowed"
    assert Room.open("mia", "pat", MIA, world.now).member_id == "mia"
    with unchanged(world.accounts["mia"], code="not_allowed"):
        world.accounts["mia"].add("purchase", 1, "order-1", world.provider, world.now)
    with unchanged(world.calendar, code="not_allowed"):
        world.calendar.publish({"timezone": "UTC"}, OTHER_PROVIDER, world.now)


@pytest.mark.parametrize(
    ("member", "provider"), [("", "pat"), ("mia", ""), ("a:b", "pat"), ("mia", "x" * 201), (None, "pat")]
)
def test_a_room_needs_plain_party_ids(member: object, provider: object) -> None:
    with pytest.raises(Exception) as refusal:
        Room.open(member, provider, Actor("system", "t"), World().now)  # type: ignore[arg-type]
    assert getattr(refusal.value, "code", None) == "invalid_input"


@pytest.mark.parametrize("text", ["mia", "member:", "guest:mia", ":mia", "member:" + "x" * 201])
def test_a_malformed_actor_is_invalid_input(text: str) -> None:
    with pytest.raises(Exception) as refusal:
        Actor.parse(text)
    assert getattr(refusal.value, "code", None) == "invalid_input"


def test_every_error_code_is_stable_unique_and_covered_by_a_test() -> None:
    codes = [error.code for error in ERROR_TYPES]
    assert len(set(codes)) == len(codes)
    # Each of these is triggered by a test in tests/unit/domain or tests/integration/test_scenarios.py.
    assert set(codes) == {
        "invalid_input",
        "not_found",
        "not_allowed",
        "invalid_transition",
        "slot_unavailable",
        "outside_availability",
        "same_start",
        "too_late_to_book",
        "too_far_ahead",
        "no_credit_available",
        "forfeit_not_acknowledged",
        "idempotency_conflict",
        "concurrency_conflict",
        "reference_conflict",
    }

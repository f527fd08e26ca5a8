"""Incremental == rebuild: views applied a few events at a time, over a generated history,
equal the same views rebuilt from nothing, and agree with the aggregates."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.asof import unrecorded_outcomes
from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.errors import BookingError
from projections.database import create_read_engine
from projections.deadlines import PendingDeadline
from projections.queries import ReadModels
from projections.runner import ProjectionsRunner
from projections.verify import verify_views
from tests.integration.projections.story import AVAILABILITY, at

MEMBERS = ("m1", "m2")
SOURCES = ("purchase", "insurance", "employer")

steps = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(MEMBERS), st.sampled_from(SOURCES), st.integers(1, 3)),
        *[st.tuples(st.just("reserve"), st.sampled_from(MEMBERS), st.integers(2, 9), st.integers(9, 15))] * 3,
        *[st.tuples(st.just("confirm"), st.integers(0, 20))] * 2,
        st.tuples(st.just("decline"), st.integers(0, 20)),
        st.tuples(st.just("cancel"), st.integers(0, 20), st.booleans()),
        st.tuples(st.just("reschedule"), st.integers(0, 20), st.integers(2, 9), st.booleans()),
        st.tuples(st.just("join"), st.integers(0, 20)),
        st.tuples(st.just("complete"), st.integers(0, 20)),
        st.tuples(st.just("no_show"), st.integers(0, 20)),
        st.tuples(st.just("revoke"), st.integers(0, 20)),
        st.tuples(st.just("advance"), st.integers(1, 40)),
        *[st.tuples(st.just("deadlines"))] * 2,
        st.tuples(st.just("project")),
    ),
    min_size=10,
    max_size=40,
)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps)
def test_views_applied_incrementally_equal_a_rebuild_from_the_events(steps: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'booking.db'}"
        clock = ManualClock(at(2, 9))
        service = BookingService(clock, env=event_store_env(url))
        runner = ProjectionsRunner(url, batch_size=3)
        try:
            bookings = play(service, clock, runner, steps)
            runner.catch_up()
            assert verify_views(url) == []
            assert_views_agree_with_aggregates(service, ReadModels(create_read_engine(url), clock), bookings)
        finally:
            runner.close()
            service.close()


def play(
    service: BookingService, clock: ManualClock, runner: ProjectionsRunner, steps: list[tuple[object, ...]]
) -> list[str]:
    rooms = {m: service.open_room(m, "p1")["room_id"] for m in MEMBERS}
    service.publish_availability("p1", AVAILABILITY, actor="provider:p1")
    for member in MEMBERS:
        service.add_credits(member, "purchase", 2, "order-1")
    bookings: list[str] = []
    for step in steps:
        with contextlib.suppress(BookingError):  # a refused command writes nothing; go on
            apply_step(service, clock, runner, rooms, bookings, step)
    return bookings


def apply_step(
    service: BookingService,
    clock: ManualClock,
    runner: ProjectionsRunner,
    rooms: dict[str, str],
    bookings: list[str],
    step: tuple[object, ...],
) -> None:
    kind, *args = step

    def booking(index: object) -> str:
        if not bookings:
            raise BookingError("no booking yet")
        return bookings[int(index) % len(bookings)]  # type: ignore[call-overload]

    def start(days: object, hour: object = 10) -> datetime:
        return (clock.now() + timedelta(days=int(days))).replace(hour=int(hour), minute=0)  # type: ignore[call-overload]

    if kind == "add":
        service.add_credits(str(args[0]), str(args[1]), int(args[2]), f"order-{uuid.uuid4()}")  # type: ignore[call-overload]
    elif kind == "reserve":
        member = str(args[0])
        made = service.reserve_session(
            rooms[member], start(args[1], args[2]), 45, "video", actor=f"member:{member}"
        )
        bookings.append(made["booking_id"])
    elif kind == "confirm":
        service.confirm_session(booking(args[0]), actor="provider:p1")
    elif kind == "decline":
        service.decline_session(booking(args[0]), "busy", actor="provider:p1")
    elif kind == "cancel":
        target = service.get_booking(booking(args[0]))
        service.cancel_session(str(target.id), "", bool(args[1]), actor=f"member:{target.member_id}")
    elif kind == "reschedule":
        target = service.get_booking(booking(args[0]))
        service.reschedule_session(
            str(target.id), start(args[1]), bool(args[2]), actor=f"member:{target.member_id}"
        )
    elif kind == "join":
        service.record_member_joined(booking(args[0]), actor="platform:video")
    elif kind == "complete":
        service.complete_session(booking(args[0]), actor="provider:p1")
    elif kind == "no_show":
        service.report_no_show(booking(args[0]), "member", actor="provider:p1")
    elif kind == "revoke":
        service.revoke_forfeit(booking(args[0]), "goodwill", actor="operator:ops")
    elif kind == "advance":
        clock.advance(timedelta(hours=int(args[0])))  # type: ignore[call-overload]
    elif kind == "deadlines":
        for booking_id in bookings:
            for deadline_kind, due in service.get_booking(booking_id).pending_deadlines():
                if due <= clock.now():
                    service.record_deadline(booking_id, deadline_kind, due)
    elif kind == "project":
        runner.catch_up()


def assert_views_agree_with_aggregates(
    service: BookingService, views: ReadModels, bookings: list[str]
) -> None:
    aggregates = [service.get_booking(b) for b in bookings]
    expected = sorted(
        (
            PendingDeadline(str(b.id), k, due, b.version)
            for b in aggregates
            for k, due in b.pending_deadlines()
        ),
        key=lambda d: (d.due, d.booking_id, d.kind),
    )
    assert views.pending_deadlines() == expected
    for member in MEMBERS:
        balances = views.credit_balances(member)
        ledger = service.get_account(member)
        if balances is None:
            assert ledger.added == 0
            continue
        expected_balance = ledger.balance()  # what the ledger recorded, and what is due but unrecorded
        for status in unrecorded_outcomes(service, ledger, service.clock.now()).values():
            expected_balance["held"] -= 1
            expected_balance[status] += 1
        assert {k: balances[k] for k in ("available", "held", "consumed", "forfeited")} == expected_balance
    for b in aggregates:
        details = views.room_details(b.room_id, now=at(2, 9))
        assert details is not None
        session = next(s for s in details["sessions"] if s["booking_id"] == str(b.id))
        assert (session["status"], session["starts_at"], session["free_until"]) == (
            b.status,
            b.starts_at,
            b.free_until,
        )
        assert session["booking_version"] == b.version

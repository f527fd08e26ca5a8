"""A store written by an old release, opened by today's code on SQLite and PostgreSQL.

The old rows (``tests/unit/domain/stored/old_events``, written by the releases themselves, and an
account stream with a first-release snapshot built here in the first release's shape) are
inserted as they were stored; today's views, commands and audit then work on them, and
what the old release recorded keeps its meaning.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from audit.verify import verify_snapshots, verify_store
from commands.clock import ManualClock
from commands.service import BookingService
from domain.credits import CreditAccount
from domain.errors import ReferenceConflict
from domain.policy import Policy
from projections.database import create_read_engine
from projections.queries import ReadModels
from tests.unit.domain.old_events import (
    ANA,
    ANA_ACTOR,
    RELEASES,
    SNAPSHOT_AT,
    OldRelease,
    first_release_account,
    old_release,
)
from tests.views import catch_up_views


@pytest.fixture(params=RELEASES)
def old(request: pytest.FixtureRequest) -> OldRelease:
    return old_release(request.param)


@pytest.fixture
def opened(database_url: str, old: OldRelease) -> Iterator[BookingService]:
    service = BookingService.open(database_url, ManualClock(old.now), Policy())
    service.recorder.insert_events(old.events)
    yield service
    service.close()


def reads(database_url: str) -> tuple[Any, ReadModels]:
    engine = create_read_engine(database_url)
    return engine, ReadModels(engine)


def test_views_commands_and_the_audit_follow_an_old_release_store(
    database_url: str, old: OldRelease, opened: BookingService
) -> None:
    catch_up_views(database_url)
    engine, views = reads(database_url)
    try:
        assert views.stalls() == {}
        tight = [d for d in views.pending_deadlines() if d.booking_id == old.tight_booking]
        assert sorted(d.kind for d in tight) == ["free_cancellation", "session_end"]  # no reminder
        assert all(d.kind != "reminder" for d in views.pending_deadlines())
        room_id = str(opened.get_booking(old.tight_booking).room_id)
        [session] = views.room_details(room_id, old.now)["sessions"]  # type: ignore[index]
        assert session["allowed_actions"] == ["reschedule", "cancel"]

        cancelled = opened.cancel_session(old.tight_booking, reason="moved", actor="member:ben")
        assert cancelled["status"] == "cancelled"
        before = opened.get_account("maya").balance()
        assert (
            opened.add_credits("maya", "purchase", 1, "order-1001", actor="member:maya")["balance"] == before
        )
        assert opened.get_account("maya").balance() == before

        catch_up_views(database_url)
        assert views.stalls() == {}
        assert [d for d in views.pending_deadlines() if d.booking_id == old.tight_booking] == []
        assert views.credit_balances("maya")["available"] == before["available"]  # type: ignore[index]
    finally:
        engine.dispose()
    report = verify_store(opened.recorder, opened.mapper)
    assert report.ok, report.breaches


def test_an_old_snapshot_is_replayed_and_an_old_reference_still_adds_once(database_url: str) -> None:
    clock = ManualClock(datetime(2026, 3, 9, 13, 30, tzinfo=UTC))
    service = BookingService.open(database_url, clock, Policy())
    try:
        events, snapshot = first_release_account(references=SNAPSHOT_AT + 1)
        service.recorder.insert_events(events)
        assert service.snapshots is not None
        service.snapshots.recorder.insert_events([snapshot])

        assert service.add_credits(ANA, "purchase", 1, "pay-3", actor=ANA_ACTOR)["balance"]["available"] == 51
        with pytest.raises(ReferenceConflict):
            service.add_credits(ANA, "employer", 1, "pay-3", actor="operator:olu")
        for n in range(SNAPSHOT_AT - 2):  # up to version 100: a snapshot of today's shape is taken
            service.add_credits(ANA, "purchase", 1, f"new-{n}", actor=ANA_ACTOR)
        latest: list[Any] = list(service.snapshots.get(CreditAccount.id_for(ANA), desc=True, limit=1))
        assert latest[0].originator_version == 2 * SNAPSHOT_AT
        assert latest[0].state["unrecorded_references"]["pay-7"] == ["purchase", 1]
    finally:
        service.close()

    again = BookingService.open(database_url, clock, Policy())  # loads from the new snapshot
    try:
        account = again.get_account(ANA)
        assert account.balance()["available"] == 51 + SNAPSHOT_AT - 2
        outcome = again.add_credits(ANA, "purchase", 1, "pay-50", actor=ANA_ACTOR)
        assert outcome["balance"] == account.balance()
        report = verify_store(again.recorder, again.mapper)
        verify_snapshots(again, report)
        assert report.ok, report.breaches
        assert report.snapshots_checked == 1
    finally:
        again.close()

"""A snapshot of an outdated shape is ignored and the stream replayed, on every load path."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from commands.clock import ManualClock
from commands.service import BookingService
from domain.credits import CreditAccount
from tests.unit.domain.old_events import ANA, SNAPSHOT_AT, first_release_account

NOW = datetime(2026, 3, 9, 13, 30, tzinfo=UTC)
ACCOUNT = CreditAccount.id_for(ANA)


@pytest.fixture
def service() -> Iterator[BookingService]:
    app = BookingService(ManualClock(NOW), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    events, snapshot = first_release_account(references=SNAPSHOT_AT + 3)
    app.recorder.insert_events(events)
    assert app.snapshots is not None
    app.snapshots.recorder.insert_events([snapshot])
    yield app
    app.close()


def latest_snapshot(app: BookingService) -> Any:
    assert app.snapshots is not None
    return next(iter(app.snapshots.get(ACCOUNT, desc=True, limit=1)))


def check_replayed(account: Any) -> None:
    assert isinstance(account, CreditAccount)
    assert account.version == SNAPSHOT_AT + 4
    assert account.balance()["available"] == SNAPSHOT_AT + 3
    assert account.unrecorded_references["pay-0"] == ["purchase", 1]  # known from the events only


def test_the_services_loads_replay_past_an_outdated_snapshot(service: BookingService) -> None:
    assert latest_snapshot(service).state.get("class_version") is None  # the first release's
    check_replayed(service.get_account(ANA))  # one read of the stream, its snapshot included
    check_replayed(service._reconstruct(CreditAccount, ACCOUNT, None))


def test_the_library_repository_replays_past_it_and_a_snapshot_of_today_is_taken(
    service: BookingService,
) -> None:
    check_replayed(service.repository.get(ACCOUNT))
    service.take_snapshot(ACCOUNT)
    taken = latest_snapshot(service)
    assert (taken.originator_version, taken.state["class_version"]) == (SNAPSHOT_AT + 4, 3)
    check_replayed(service._reconstruct(CreditAccount, ACCOUNT, None))

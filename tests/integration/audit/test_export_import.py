"""Exporting the log and importing it into an empty database reproduces everything exactly."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from audit.export import export_events, import_events
from audit.verify import verify_store
from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.errors import InvalidInput
from projections.database import create_read_engine
from projections.queries import ReadModels
from tests.conftest import drop_postgres_database, new_postgres_database, require_postgres
from tests.integration.audit.story import MEMBER, PROVIDER, Story
from tests.views import catch_up_views


@pytest.fixture
def empty_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty database on the same backend as ``database_url``."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/imported.db"
        return
    require_postgres()
    url = new_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


def export_text(app: BookingService, **part: Any) -> str:
    out = io.StringIO()
    export_events(app.recorder, out, **part)
    return out.getvalue()


def views(url: str, story: Story) -> tuple[object, ...]:
    catch_up_views(url)
    engine = create_read_engine(url)
    try:
        reads = ReadModels(engine)
        return (
            reads.room_details(story.room_id),
            reads.credit_balances(MEMBER),
            reads.rooms_of_provider(PROVIDER),
            reads.pending_deadlines(),
        )
    finally:
        engine.dispose()


def test_an_export_imported_into_an_empty_database_reproduces_every_event_aggregate_and_view(
    service: BookingService, story: Story, empty_url: str, clock: ManualClock
) -> None:
    exported = export_text(service)
    lines = exported.splitlines()
    assert len(lines) == service.recorder.max_notification_id()
    copy = BookingService(clock, service.policy, env=event_store_env(empty_url))
    try:
        assert import_events(copy.recorder, lambda: io.StringIO(exported), page=7) == len(lines)
        assert export_text(copy) == exported
        for record in map(json.loads, lines):
            if record["originator_version"] == 1:
                ident = UUID(record["originator_id"])
                assert vars(copy.repository.get(ident)) == vars(service.repository.get(ident))
        assert verify_store(copy.recorder, copy.mapper).breaches == []
        assert views(empty_url, story) == views(service_url(service), story)
    finally:
        copy.close()


def service_url(service: BookingService) -> str:
    env = service.env
    if env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        return f"sqlite:///{env['SQLITE_DBNAME']}"
    schema = f"?schema={env['POSTGRES_SCHEMA']}" if env.get("POSTGRES_SCHEMA") else ""
    return (
        f"postgresql://{env['POSTGRES_USER']}@{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}/"
        f"{env['POSTGRES_DBNAME']}{schema}"
    )


def test_a_members_part_holds_their_ledger_room_and_bookings_only(
    service: BookingService, story: Story
) -> None:
    other = service.open_room("noor", PROVIDER, actor="system:test")
    service.add_credits("noor", "insurance", 2, "claim-1", actor="system:test")
    mine = [json.loads(line) for line in export_text(service, member_id=MEMBER).splitlines()]
    streams = {r["originator_id"] for r in mine}
    assert {story.room_id, story.booking_id, story.second_booking_id} <= streams
    assert other["room_id"] not in streams
    assert all("noor" not in r["state"] for r in mine)
    theirs = [json.loads(line) for line in export_text(service, provider_id=PROVIDER).splitlines()]
    assert other["room_id"] in {r["originator_id"] for r in theirs}
    assert not any("CreditAccount" in r["topic"] for r in theirs)


def test_import_refuses_a_database_that_holds_events_and_a_bad_export_writes_nothing(
    service: BookingService, story: Story, empty_url: str, clock: ManualClock
) -> None:
    exported = export_text(service)
    with pytest.raises(InvalidInput, match="already holds events"):
        import_events(service.recorder, lambda: io.StringIO(exported))
    broken = exported + '{"originator_id": "x"}\n'
    copy = BookingService(clock, service.policy, env=event_store_env(empty_url))
    try:
        with pytest.raises(InvalidInput, match=f"line {len(exported.splitlines()) + 1}"):
            import_events(copy.recorder, lambda: io.StringIO(broken), page=3)
        assert not copy.recorder.max_notification_id()
    finally:
        copy.close()

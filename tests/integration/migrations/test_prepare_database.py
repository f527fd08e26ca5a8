"""``prepare_database`` brings every database this project ever wrote to the current shape of
the tables that are neither views nor the event store's, keeping their rows, on SQLite and
PostgreSQL: a fresh one, one of the releases before webhooks (e7ed297, 3f2ef9d: only the event
store and the views), and one of 9a8356b (webhook state and heartbeats, made by the
processes themselves, no ``alembic_version``). Running it again changes nothing; running it
from several threads at once applies each revision once."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from migrations.prepare import current_revision, head, prepare_database
from projections.database import create_read_engine
from projections.queries import ReadModels
from projections.tables import UTCDateTime, scheduler_heartbeats_table
from scheduler.heartbeat import Heartbeat
from tests.integration.operations.support import environment, run_cli
from webhooks.store import Attempt, WebhookStore, webhook_tables

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MIGRATED = ("webhook_secrets", "webhook_positions", "webhook_attempts", "scheduler_heartbeats")


def release_9a8356b_tables() -> sa.MetaData:
    """The non-view tables exactly as release 9a8356b defined them (``webhooks/store.py`` and
    ``projections/tables.py`` of that commit), frozen here: the release created them with
    ``CREATE TABLE IF NOT EXISTS`` over these definitions whenever a process first needed them."""
    metadata = sa.MetaData()
    sa.Table(
        "webhook_secrets",
        metadata,
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    sa.Table(
        "webhook_positions",
        metadata,
        sa.Column("endpoint_id", sa.String(36), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("replays", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("failing_since", UTCDateTime, nullable=True),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    )
    sa.Table(
        "webhook_attempts",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("endpoint_id", sa.String(36), nullable=False, index=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("attempted_at", UTCDateTime, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("error", sa.String(300), nullable=True),
        sa.Column("response_excerpt", sa.String(800), nullable=True),
    )
    sa.Table(
        "scheduler_heartbeats",
        metadata,
        sa.Column("scheduler_id", sa.String(200), primary_key=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("beat_at", UTCDateTime, nullable=False, index=True),
        sa.Column("pending", sa.Integer, nullable=False),
        sa.Column("fired", sa.BigInteger, nullable=False),
        sa.Column("failed", sa.BigInteger, nullable=False),
        sa.Column("last_fire_at", UTCDateTime, nullable=True),
        sa.Column("last_fire", sa.Text, nullable=True),
    )
    return metadata


def old_release_database(url: str) -> int:
    """A database as an old release left it: a few events (the library made the event store's
    tables itself, as every release before migrations did); the last notification id."""
    service = BookingService(ManualClock(T0), env=event_store_env(url))
    try:
        service.open_room("maya", "dr-okafor")
        service.add_credits("maya", "purchase", 3, "order-1")
        last = service.recorder.max_notification_id()
    finally:
        service.close()
    assert last
    return int(last)


def schema_of(engine: sa.Engine) -> dict[str, Any]:
    """What a reviewer compares: per table, its columns (type as this dialect writes it,
    nullability), primary key and indexes."""
    inspector = sa.inspect(engine)
    dialect = engine.dialect
    shape: dict[str, Any] = {}
    for table in MIGRATED:
        shape[table] = {
            "columns": {
                c["name"]: (c["type"].compile(dialect=dialect), c["nullable"])
                for c in inspector.get_columns(table)
            },
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)),
        }
    return shape


def reference_schema(database_url: str, tmp_path: Path) -> dict[str, Any]:
    """The tables as the code defines them (``webhook_tables``, ``scheduler_heartbeats_table``),
    created beside the migrated ones (another SQLite file, another PostgreSQL schema)."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'reference.db'}"
    else:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA reference")
        url = f"{database_url}?schema=reference"
    metadata = sa.MetaData()
    webhook_tables(metadata)
    scheduler_heartbeats_table(metadata)
    engine = create_read_engine(url)
    try:
        metadata.create_all(engine)
        return schema_of(engine)
    finally:
        engine.dispose()


def rows(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            table: [tuple(row) for row in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1"))]
            for table in MIGRATED
        }


@pytest.fixture
def engine(database_url: str) -> Any:
    engine = create_read_engine(database_url)
    yield engine
    engine.dispose()


def test_a_fresh_database_ends_at_head_with_the_tables_the_code_uses(
    database_url: str, engine: sa.Engine, tmp_path: Path
) -> None:
    assert current_revision(engine) is None
    prepared = prepare_database(database_url)
    assert prepared.revision == head() == current_revision(engine) == "0001"
    assert [line.split()[0] for line in prepared.applied] == ["0001"]
    # The migrated shape is the shape the code defines (both as this database reflects them):
    # a table changed without a migration, or a migration that drifts from the code, fails here.
    assert schema_of(engine) == reference_schema(database_url, tmp_path)
    # and the event store is there: the service opens without creating anything
    service = BookingService.open(database_url, ManualClock(T0), create_tables=False)
    try:
        assert service.open_room("maya", "dr-okafor")["room_id"]
    finally:
        service.close()


def test_a_database_of_a_release_before_webhooks_keeps_its_events(
    database_url: str, engine: sa.Engine
) -> None:
    """e7ed297 and 3f2ef9d: the event store and the views only, no table of ours."""
    last = old_release_database(database_url)
    assert not any(sa.inspect(engine).has_table(table) for table in MIGRATED)
    prepared = prepare_database(database_url)
    assert [line.split()[0] for line in prepared.applied] == ["0001"]
    assert all(sa.inspect(engine).has_table(table) for table in MIGRATED)
    service = BookingService.open(database_url, ManualClock(T0), create_tables=False)
    try:
        assert service.recorder.max_notification_id() == last
        assert service.get_account("maya").added == 3
        service.add_credits("maya", "purchase", 1, "order-2")
        assert service.get_account("maya").added == 4
        assert (service.recorder.max_notification_id() or 0) > last
    finally:
        service.close()


def test_a_database_of_9a8356b_keeps_its_webhook_state_and_heartbeats(
    database_url: str, engine: sa.Engine
) -> None:
    old_release_database(database_url)
    old = release_9a8356b_tables()
    with engine.begin() as conn:
        for table in old.sorted_tables:
            conn.execute(CreateTable(table, if_not_exists=True))
            for index in table.indexes:
                conn.execute(CreateIndex(index, if_not_exists=True))
        conn.execute(
            old.tables["webhook_secrets"].insert(),
            {"fingerprint": "f" * 64, "secret": "whsec_old", "created_at": T0},
        )
        conn.execute(
            old.tables["webhook_positions"].insert(),
            {"endpoint_id": "e1", "position": 7, "replays": 1, "attempts": 2, "next_attempt_at": T0},
        )
        conn.execute(
            old.tables["webhook_attempts"].insert(),
            [
                {
                    "endpoint_id": "e1",
                    "position": n,
                    "event_id": f"ev-{n}",
                    "attempted_at": T0,
                    "status_code": 200,
                    "latency_ms": 1.5,
                }
                for n in (6, 7)
            ],
        )
        fire = {"booking_id": "b", "kind": "expiry", "at": T0.isoformat(), "recorded": True}
        conn.execute(
            old.tables["scheduler_heartbeats"].insert(),
            {
                "scheduler_id": "host:1",
                "started_at": T0,
                "beat_at": T0,
                "pending": 4,
                "fired": 9,
                "failed": 0,
                "last_fire_at": T0,
                "last_fire": json.dumps(fire),
            },
        )
    before = rows(engine)
    assert current_revision(engine) is None

    prepared = prepare_database(database_url)

    assert prepared.revision == current_revision(engine) == "0001"
    assert rows(engine) == before
    # Today's code reads what the old release wrote, and goes on writing after it.
    store = WebhookStore(engine)
    assert store.secret("f" * 64) == "whsec_old"
    state = store.state("e1")
    assert state is not None and (state.position, state.replays, state.attempts) == (7, 1, 2)
    attempt = Attempt(8, "ev-8", T0, 2.0, 200, None, "ok")
    assert store.advance(state, 8, [attempt])
    assert [a["position"] for a in store.recent_attempts("e1")] == [8, 7, 6]
    heartbeat = ReadModels(engine, ManualClock(T0)).scheduler_heartbeat()
    assert (heartbeat["scheduler_id"], heartbeat["fired"], heartbeat["last_fire"]) == ("host:1", 9, fire)
    Heartbeat(engine, ManualClock(T0), "host:2").beat({"pending": 0})


def test_preparing_again_changes_nothing(database_url: str, engine: sa.Engine) -> None:
    prepare_database(database_url)
    store = WebhookStore(engine)
    store.keep_secret("a" * 64, "whsec_kept", T0)
    before, shape = rows(engine), schema_of(engine)
    again = prepare_database(database_url)
    assert again.applied == () and again.revision == "0001"
    assert rows(engine) == before and schema_of(engine) == shape
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1


def test_processes_preparing_at_once_apply_each_revision_once(database_url: str, engine: sa.Engine) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: prepare_database(database_url), range(4)))
    assert sorted(len(r.applied) for r in results) == [0, 0, 0, 1]
    assert {r.revision for r in results} == {"0001"} and current_revision(engine) == "0001"


@pytest.mark.postgres
def test_a_schema_named_in_the_url_holds_everything(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA tenant_a")
    url = f"{postgres_url}?schema=tenant_a"
    assert prepare_database(url).revision == "0001"
    engine = create_read_engine(postgres_url)
    try:
        inspector = sa.inspect(engine)
        assert set(MIGRATED) | {"alembic_version"} <= set(inspector.get_table_names(schema="tenant_a"))
        assert not set(MIGRATED) & set(inspector.get_table_names(schema="public"))
    finally:
        engine.dispose()
    assert prepare_database(url).applied == ()


def test_booking_migrate_says_what_it_applied_then_that_nothing_is_left(
    database_url: str, tmp_path: Path
) -> None:
    env = environment(BOOKING_DATABASE_URL=database_url)
    first = run_cli("migrate", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "applied 0001 Baseline" in first.stdout and "at revision 0001" in first.stdout
    again = run_cli("migrate", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "no migration to apply" in again.stdout and "applied" not in again.stdout

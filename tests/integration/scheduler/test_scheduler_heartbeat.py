"""``/health`` of an API process shows the last fire of a scheduler that runs as another process
(``booking schedule``), read from the heartbeat it records in the views' database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.availability import align_up
from domain.booking import EXPIRED
from domain.policy import Policy
from migrations.prepare import prepare_database
from projections.database import create_read_engine
from projections.queries import SILENT_AFTER_SECONDS, ReadModels
from scheduler.heartbeat import Heartbeat
from tests.integration.operations.support import Process, environment, free_port, wait_for
from tests.integration.scheduler.deployment import ALL_DAY_UTC


def book_in_the_past(database_url: str) -> str:
    """A booking reserved 30 days ago (by the clock of that time): its deadlines are all due."""
    then = datetime.now(UTC) - timedelta(days=30)
    service = BookingService(ManualClock(then), Policy(), env=event_store_env(database_url))
    try:
        service.publish_availability("dr-okafor", ALL_DAY_UTC, actor="provider:dr-okafor")
        room = service.open_room("maya", "dr-okafor")["room_id"]
        service.add_credits("maya", "purchase", 1, "order-1", actor="member:maya")
        start = align_up(then + timedelta(days=3), timedelta(hours=1))
        return str(service.reserve_session(room, start, 45, "video", actor="member:maya")["booking_id"])
    finally:
        service.close()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


@pytest.mark.slow
def test_health_of_a_separate_api_shows_the_last_fire_of_a_scheduler_process(
    database_url: str, tmp_path: Path, processes: list[Process]
) -> None:
    booking_id = book_in_the_past(database_url)
    env = environment(BOOKING_DATABASE_URL=database_url, BOOKING_API_TOKENS="health-test-token:service")
    port = free_port()
    api = Process(["serve", "--api-only", "--port", str(port), "--workers", "1"], env, tmp_path / "api")
    processes.append(api)

    def health() -> dict[str, Any] | None:
        assert api.popen.poll() is None, api.stderr()
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
        except httpx.TransportError:
            return None
        assert response.status_code == 200, response.text  # a scheduler never seen is no 503
        return dict(response.json())

    before = wait_for(health, "the API's /health")
    assert before is not None
    assert before["scheduler"] == {"status": "absent", "last_fire": None}

    processes.append(Process(["project", "--poll-interval", "0.1"], env, tmp_path / "project"))
    scheduler = Process(["schedule", "--heartbeat-interval", "0.2"], env, tmp_path / "schedule")
    processes.append(scheduler)

    def fired() -> dict[str, Any] | None:
        assert scheduler.popen.poll() is None, scheduler.stderr()
        report = health()
        return report["scheduler"] if report and (report["scheduler"] or {}).get("last_fire") else None

    seen = wait_for(fired, "the scheduler's last fire in /health", seconds=30)
    assert seen is not None
    assert seen["status"] == "beating" and seen["fired"] >= 1 and seen["failed"] == 0
    assert seen["scheduler_id"].endswith(f":{scheduler.popen.pid}")
    last = seen["last_fire"]
    assert last["booking_id"] == booking_id and isinstance(last["recorded"], bool)  # (stale once expired)
    assert last["lag_seconds"] > 0  # due long ago

    service = BookingService(ManualClock(datetime.now(UTC)), Policy(), env=event_store_env(database_url))
    try:
        # The first fire shown may be the free-cancellation close, recorded before the expiry
        # (both are due): the expiry follows it into the store.
        expired = wait_for(lambda: service.get_booking(booking_id).status == EXPIRED or None, "the expiry")
        assert expired
    finally:
        service.close()
    assert scheduler.stop() == 0, scheduler.stderr()


def test_a_heartbeat_older_than_the_silence_limit_reads_as_silent(database_url: str) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    prepare_database(database_url)  # the heartbeats' table is the migrations'
    engine = create_read_engine(database_url)
    try:
        read_models = ReadModels(engine, clock)
        assert read_models.scheduler_heartbeat() == {"status": "absent", "last_fire": None}
        heartbeat = Heartbeat(engine, clock, "host:1")
        fire = {"booking_id": "b", "kind": "confirmation", "at": "2026-03-02T08:59:00Z", "recorded": True}
        heartbeat.beat({"pending": 3, "fired": 1, "failed": 0, "last_fire": fire})
        assert read_models.scheduler_heartbeat()["status"] == "beating"
        clock.advance(timedelta(seconds=SILENT_AFTER_SECONDS + 1))
        silent = read_models.scheduler_heartbeat()
        assert silent["status"] == "silent" and silent["pending"] == 3 and silent["last_fire"] == fire
        assert silent["heartbeat_age_seconds"] == SILENT_AFTER_SECONDS + 1
    finally:
        engine.dispose()

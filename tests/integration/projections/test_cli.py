"""The ``booking project / rebuild / verify`` commands, run as the operator would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from projections.database import create_read_engine
from projections.queries import ReadModels
from tests.integration.projections.story import tell
from tests.views import catch_up_views

ROOT = Path(__file__).resolve().parents[3]


def booking(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BOOKING_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "entrypoints", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def project(database_url: str) -> None:
    catch_up_views(database_url)


def test_verify_passes_on_live_views_and_fails_naming_a_tampered_row(
    sqlite_url: str, clock: ManualClock
) -> None:
    service = BookingService(clock, env=event_store_env(sqlite_url))
    try:
        tell(service, clock)
    finally:
        service.close()
    project(sqlite_url)

    clean = booking(sqlite_url, "verify")
    assert clean.returncode == 0, clean.stderr
    with create_read_engine(sqlite_url).begin() as conn:
        conn.execute(sa.text("UPDATE credit_balances SET available = 99 WHERE member_id = 'm1'"))
    tampered = booking(sqlite_url, "verify")

    assert tampered.returncode == 1
    assert "credit_balances" in tampered.stdout and "'available': 99" in tampered.stdout


def test_rebuild_restores_a_view_from_the_events(sqlite_url: str, clock: ManualClock) -> None:
    service = BookingService(clock, env=event_store_env(sqlite_url))
    try:
        tell(service, clock)
    finally:
        service.close()
    project(sqlite_url)
    engine = create_read_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM pending_deadlines"))

    rebuilt = booking(sqlite_url, "rebuild", "pending_deadlines")

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert len(ReadModels(engine).pending_deadlines()) == 2
    assert booking(sqlite_url, "verify").returncode == 0


def test_rebuild_refuses_an_unknown_view(sqlite_url: str) -> None:
    result = booking(sqlite_url, "rebuild", "no_such_view")

    assert result.returncode == 2
    assert "invalid choice" in result.stderr


@pytest.mark.slow
def test_project_exits_non_zero_when_the_database_is_unreachable() -> None:
    result = booking("postgresql://postgres@127.0.0.1:1/nowhere", "project", "--give-up-after", "2")

    assert result.returncode == 1
    assert "database unavailable" in result.stderr

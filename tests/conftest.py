"""Shared fixtures: one ``database_url`` fixture parametrised over SQLite and PostgreSQL.

PostgreSQL tests run in a uniquely named schema of the ``test`` database, dropped after
the test. When the server is unreachable they skip with a reason on a laptop, and fail
loudly in CI (``CI`` or ``BOOKING_REQUIRE_POSTGRES`` set).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.policy import Policy

POSTGRES_ADMIN_URL = os.environ.get("BOOKING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
POSTGRES_REQUIRED = bool(os.environ.get("CI") or os.environ.get("BOOKING_REQUIRE_POSTGRES"))


def _postgres_reachable() -> str | None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as error:
        return str(error).strip() or type(error).__name__


_POSTGRES_PROBLEM: str | None = None
_POSTGRES_PROBED = False


def require_postgres() -> None:
    """Skip (laptop) or fail (CI) when PostgreSQL cannot be reached."""
    global _POSTGRES_PROBLEM, _POSTGRES_PROBED
    if not _POSTGRES_PROBED:
        _POSTGRES_PROBLEM, _POSTGRES_PROBED = _postgres_reachable(), True
    if _POSTGRES_PROBLEM is not None:
        message = f"PostgreSQL at {POSTGRES_ADMIN_URL} is unreachable: {_POSTGRES_PROBLEM}"
        if POSTGRES_REQUIRED:
            pytest.fail(message + " (required in CI)", pytrace=False)
        pytest.skip(message)


def new_postgres_schema() -> str:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema


def drop_postgres_schema(schema: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database URL whose tables all live in a fresh schema."""
    require_postgres()
    schema = new_postgres_schema()
    try:
        yield f"{POSTGRES_ADMIN_URL}?schema={schema}"
    finally:
        drop_postgres_schema(schema)


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/booking.db"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The same scenario runs once per backend."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return str(request.getfixturevalue("sqlite_url"))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))  # a Monday


@pytest.fixture
def policy() -> Policy:
    return Policy()


@pytest.fixture
def service(database_url: str, clock: ManualClock, policy: Policy) -> Iterator[BookingService]:
    app = BookingService(clock, policy, env=event_store_env(database_url))
    try:
        yield app
    finally:
        app.close()

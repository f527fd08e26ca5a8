"""Shared fixtures: one ``database_url`` fixture parametrised over SQLite and PostgreSQL.

Each PostgreSQL test gets a database of its own, created for it from the server's ``postgres``
maintenance database and dropped (with its connections) afterwards, so the suite needs
nothing on the server but a user allowed to create databases. When the server is
unreachable the tests skip with a reason on a laptop, and fail loudly in CI (``CI`` or
``BOOKING_REQUIRE_POSTGRES`` set).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.policy import Policy

POSTGRES_SERVER_URL = os.environ.get(
    "BOOKING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)  # any database the test user may connect to; ``postgres`` is the server's maintenance one
POSTGRES_REQUIRED = bool(os.environ.get("CI") or os.environ.get("BOOKING_REQUIRE_POSTGRES"))
TEST_DATABASE_PREFIX = "booking_test_"


def _postgres_reachable() -> str | None:
    try:
        with psycopg.connect(POSTGRES_SERVER_URL, connect_timeout=3):
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
        message = f"PostgreSQL at {POSTGRES_SERVER_URL} is unreachable: {_POSTGRES_PROBLEM}"
        if POSTGRES_REQUIRED:
            pytest.fail(message + " (required in CI)", pytrace=False)
        pytest.skip(message)


def new_postgres_database() -> str:
    """Create an empty, uniquely named database on the server; return its URL."""
    name = f"{TEST_DATABASE_PREFIX}{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_SERVER_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return urlunsplit(urlsplit(POSTGRES_SERVER_URL)._replace(path=f"/{name}", query=""))


def drop_postgres_database(url: str) -> None:
    """Drop a database made by :func:`new_postgres_database`, ending any connection left to it."""
    name = urlsplit(url).path.lstrip("/")
    assert name.startswith(TEST_DATABASE_PREFIX), name  # never anything the tests did not create
    with psycopg.connect(POSTGRES_SERVER_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh PostgreSQL database of this test's own."""
    require_postgres()
    url = new_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


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


@pytest.fixture
def two_services(database_url: str, clock: ManualClock) -> Iterator[tuple[BookingService, BookingService]]:
    """Two services on one database, as two processes would be: each with a cache of its own."""
    first = BookingService(clock, env=event_store_env(database_url))
    second = BookingService(clock, env=event_store_env(database_url))
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Four workers per core, at most eight: most of the suite's wall time is waiting (processes
    starting, deadlines falling due, databases being created), not CPU. Eight keeps the
    PostgreSQL connections of the suite well under the shared server's hundred."""
    return min(8, 4 * (os.cpu_count() or 1))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first, so that under ``pytest -n`` the long ones start at once rather than
    leaving one worker busy with them after the others have finished."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)

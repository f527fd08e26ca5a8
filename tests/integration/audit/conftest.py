"""Fixtures for the audit tests: the member's story on a real database, and raw SQL access
to the stored events (the only way a test can play the part of someone tampering with them)."""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from uuid import UUID

import psycopg
import pytest

from commands.clock import ManualClock
from commands.service import BookingService
from tests.integration.audit.story import Story, play_story


@pytest.fixture
def story(service: BookingService, clock: ManualClock) -> Story:
    return play_story(service, clock)


def events_table(database_url: str) -> str:
    """The library's table of stored events on each backend."""
    return "stored_events" if database_url.startswith("sqlite") else "booking_events"


def run_sql(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on the real database, outside the application, and commit it."""
    url = urlparse(database_url)
    if url.scheme == "sqlite":
        with sqlite3.connect(unquote(url.path)[1:]) as conn:
            rows = conn.execute(sql.replace("%s", "?"), params).fetchall()
        return rows
    schema = parse_qs(url.query).get("schema", ["public"])[0]
    plain_url = database_url.split("?", 1)[0]
    with psycopg.connect(plain_url, autocommit=True, options=f"-csearch_path={schema}") as conn:
        cursor = conn.execute(sql, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def originator(database_url: str, booking_id: str) -> Any:
    """How the backend stores a stream id (hex text on SQLite, uuid on PostgreSQL)."""
    return UUID(booking_id).hex if database_url.startswith("sqlite") else UUID(booking_id)

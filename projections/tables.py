"""Table definitions of every view, plus the shared tracking table.

Each view's tables are defined under a name prefix: ``""`` for the live views, a scratch
prefix when ``verify`` rebuilds next to them. Only definitions live here; no queries.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from migrations.lock import SCHEMA, advisory_lock

TRACKING_TABLE = "projection_tracking"
STALLS_TABLE = "projection_stalls"
HEARTBEATS_TABLE = "scheduler_heartbeats"


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An instant stored as UTC and always read back timezone-aware (SQLite keeps no offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"instants must be timezone-aware; got {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        instant: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if instant.tzinfo is None:
            return instant.replace(tzinfo=UTC)
        return instant.astimezone(UTC)


def tracking_table(metadata: sa.MetaData) -> sa.Table:
    """One row per view: the last notification id the view applied (0 = none yet)."""
    return sa.Table(
        TRACKING_TABLE,
        metadata,
        sa.Column("view_name", sa.String(100), primary_key=True),
        sa.Column("application_name", sa.String(100), nullable=False),
        sa.Column("notification_id", sa.BigInteger, nullable=False),
    )


def stalls_table(metadata: sa.MetaData) -> sa.Table:
    """One row per view that cannot apply an event: which event, and why. The view's position
    stays just before that event until the event can be applied (or the view is rebuilt)."""
    return sa.Table(
        STALLS_TABLE,
        metadata,
        sa.Column("view_name", sa.String(100), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("notification_id", sa.BigInteger, nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
    )


def scheduler_heartbeats_table(metadata: sa.MetaData) -> sa.Table:
    """One row per ``booking schedule`` process: when it last reported, its counts, and its
    last fire (JSON), so the API's ``/health`` can show a scheduler that runs elsewhere."""
    return sa.Table(
        HEARTBEATS_TABLE,
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


def room_details_tables(metadata: sa.MetaData, prefix: str) -> tuple[sa.Table, sa.Table]:
    rooms = sa.Table(
        f"{prefix}rooms",
        metadata,
        sa.Column("room_id", sa.String(36), primary_key=True),
        sa.Column("member_id", sa.String(200), nullable=False, index=True),
        sa.Column("provider_id", sa.String(200), nullable=False, index=True),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("last_change_type", sa.String(60), nullable=False),
        sa.Column("last_change_at", UTCDateTime, nullable=False),
    )
    sessions = sa.Table(
        f"{prefix}room_sessions",
        metadata,
        sa.Column("booking_id", sa.String(36), primary_key=True),
        sa.Column("room_id", sa.String(36), nullable=False, index=True),
        sa.Column("member_id", sa.String(200), nullable=False),
        sa.Column("provider_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("starts_at", UTCDateTime, nullable=False),
        sa.Column("ends_at", UTCDateTime, nullable=False),
        sa.Column("length_minutes", sa.Integer, nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("confirm_by", UTCDateTime, nullable=False),
        sa.Column("free_until", UTCDateTime, nullable=False),
        sa.Column("session_end_due", UTCDateTime, nullable=False),
        sa.Column("joined_at", UTCDateTime, nullable=True),
        sa.Column("provider_joined_at", UTCDateTime, nullable=True),
        sa.Column("outside_availability", sa.Boolean, nullable=True),
        sa.Column("proposal", sa.JSON, nullable=True),  # the latest unanswered proposal (instants as text)
        sa.Column("credit_id", sa.String(20), nullable=True),  # the credit held (read-time balances)
        sa.Column("policy_version", sa.String(100), nullable=False),
        sa.Column("policy", sa.JSON, nullable=False),  # the numbers the allowed actions are derived with
        sa.Column("booking_version", sa.Integer, nullable=False),
        sa.Column("last_change_type", sa.String(60), nullable=False),
        sa.Column("last_change_at", UTCDateTime, nullable=False),
        sa.Column("last_change_by", sa.String(250), nullable=False),
    )
    return rooms, sessions


def credit_balances_tables(metadata: sa.MetaData, prefix: str) -> tuple[sa.Table, sa.Table, sa.Table]:
    accounts = sa.Table(
        f"{prefix}credit_accounts",
        metadata,
        sa.Column("account_id", sa.String(36), primary_key=True),
        sa.Column("member_id", sa.String(200), nullable=False, unique=True),
        sa.Column("credits", sa.Integer, nullable=False),  # credits ever added: the next id is c{credits+1}
    )
    credits = sa.Table(  # helper: the source of each credit, known only from CreditsAdded
        f"{prefix}credit_sources",
        metadata,
        sa.Column("member_id", sa.String(200), primary_key=True),
        sa.Column("credit_id", sa.String(20), primary_key=True),
        sa.Column("source", sa.String(20), nullable=False),
    )
    balances = sa.Table(
        f"{prefix}credit_balances",
        metadata,
        sa.Column("member_id", sa.String(200), primary_key=True),
        sa.Column("source", sa.String(20), primary_key=True),
        sa.Column("available", sa.Integer, nullable=False),
        sa.Column("held", sa.Integer, nullable=False),
        sa.Column("consumed", sa.Integer, nullable=False),
        sa.Column("forfeited", sa.Integer, nullable=False),
        sa.Column("restored", sa.Integer, nullable=False),
    )
    return accounts, credits, balances


def pending_deadlines_tables(metadata: sa.MetaData, prefix: str) -> tuple[sa.Table, sa.Table]:
    bookings = sa.Table(  # helper: the booking state the deadline rule needs
        f"{prefix}deadline_bookings",
        metadata,
        sa.Column("booking_id", sa.String(36), primary_key=True),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("confirm_by", UTCDateTime, nullable=False),
        sa.Column("free_until", UTCDateTime, nullable=False),
        sa.Column("session_end_due", UTCDateTime, nullable=False),
        sa.Column("free_cancellation_closed", UTCDateTime, nullable=True),
        sa.Column("reminder_lead_seconds", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reminder_due", UTCDateTime, nullable=True),
        sa.Column("reminded_due", UTCDateTime, nullable=True),
        sa.Column("booking_version", sa.Integer, nullable=False),
    )
    deadlines = sa.Table(
        f"{prefix}pending_deadlines",
        metadata,
        sa.Column("booking_id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(30), primary_key=True),
        sa.Column("due", UTCDateTime, nullable=False, index=True),
        sa.Column("booking_version", sa.Integer, nullable=False),
    )
    return bookings, deadlines


def create_tables(engine: sa.Engine, metadata: sa.MetaData, tables: Sequence[sa.Table] | None = None) -> None:
    """Create missing tables (all of ``metadata``'s, or ``tables``) and their indexes, under the
    schema lock (PostgreSQL: two concurrent CREATEs of one table fail)."""
    with advisory_lock(engine, SCHEMA):
        _create_tables(engine, metadata, tables)


def _create_tables(engine: sa.Engine, metadata: sa.MetaData, tables: Sequence[sa.Table] | None) -> None:
    for attempt in range(6):
        try:
            with engine.begin() as conn:
                for table in tables if tables is not None else metadata.sorted_tables:
                    conn.execute(CreateTable(table, if_not_exists=True))
                    for index in table.indexes:
                        conn.execute(CreateIndex(index, if_not_exists=True))
            return
        except sa.exc.DBAPIError:  # PostgreSQL: a concurrent CREATE won the race; look again
            if attempt == 5:
                raise
            time.sleep(0.05 * 2**attempt)

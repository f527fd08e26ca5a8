"""Baseline: webhook state and scheduler heartbeats, as releases up to 9a8356b made them.

- ``webhook_secrets``, ``webhook_positions``, ``webhook_attempts``: the webhook deliverer's
  state (``webhooks.store``);
- ``scheduler_heartbeats``: one row per ``booking schedule`` process (``scheduler.heartbeat``).

Releases before migrations created these tables themselves, whenever a process first needed
them, and recorded no version. Releases e7ed297 and 3f2ef9d had none of them; 9a8356b had all
four in exactly this shape (it never changed between the commit that introduced each and
9a8356b). So this revision creates each table and index only if it is missing: on a fresh
database it creates them all, on a database written by 9a8356b it keeps the tables and their
rows as they are, and either way the database ends at this revision.

Command records (idempotency) are aggregates in the event store, not a table of their own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_secrets",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        if_not_exists=True,
    )
    op.create_table(
        "webhook_positions",
        sa.Column("endpoint_id", sa.String(36), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("replays", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        if_not_exists=True,
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("endpoint_id", sa.String(36), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("error", sa.String(300), nullable=True),
        sa.Column("response_excerpt", sa.String(800), nullable=True),
        if_not_exists=True,
    )
    op.create_index(
        "ix_webhook_attempts_endpoint_id", "webhook_attempts", ["endpoint_id"], if_not_exists=True
    )
    op.create_table(
        "scheduler_heartbeats",
        sa.Column("scheduler_id", sa.String(200), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pending", sa.Integer, nullable=False),
        sa.Column("fired", sa.BigInteger, nullable=False),
        sa.Column("failed", sa.BigInteger, nullable=False),
        sa.Column("last_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fire", sa.Text, nullable=True),
        if_not_exists=True,
    )
    op.create_index(
        "ix_scheduler_heartbeats_beat_at", "scheduler_heartbeats", ["beat_at"], if_not_exists=True
    )


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone: it may hold an earlier release's rows")

"""WebhookStore: signing secrets, per-endpoint delivery positions and recent attempts.

Plain SQLAlchemy tables in the same database as the events. The endpoints themselves are
events (``domain.webhooks``); this is the delivery machinery's own state. A position is
"every event up to here has been delivered (or was not for this endpoint)" and moves only
by compare-and-set from the value its writer read, so two delivery processes can never move
it past an undelivered event. Secrets are read only by the delivery process and by the one
response that reveals a new secret; attempts keep a short excerpt of the receiver's answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from projections.tables import UTCDateTime

EXCERPT = 200
ERROR_TEXT = 300
KEPT_ATTEMPTS = 200


@dataclass(frozen=True)
class Attempt:
    position: int
    event_id: str
    attempted_at: datetime
    latency_ms: float
    status_code: int | None
    error: str | None
    response_excerpt: str | None


@dataclass(frozen=True)
class DeliveryState:
    endpoint_id: str
    position: int
    replays: int
    attempts: int
    failing_since: datetime | None
    next_attempt_at: datetime | None


def webhook_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    """The delivery machinery's tables. Their shape changes only with a migration
    (``migrations/versions``); a test compares these definitions with the migrated database."""
    secrets = sa.Table(
        "webhook_secrets",
        metadata,
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    positions = sa.Table(
        "webhook_positions",
        metadata,
        sa.Column("endpoint_id", sa.String(36), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("replays", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("failing_since", UTCDateTime, nullable=True),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    )
    attempts = sa.Table(
        "webhook_attempts",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("endpoint_id", sa.String(36), nullable=False, index=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("attempted_at", UTCDateTime, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("error", sa.String(ERROR_TEXT), nullable=True),
        sa.Column("response_excerpt", sa.String(EXCERPT * 4), nullable=True),
    )
    return secrets, positions, attempts


class WebhookStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.secrets, self.positions, self.attempts = webhook_tables(sa.MetaData())
        self._since_pruned = 0

    # --- secrets ---------------------------------------------------------------------------

    def keep_secret(self, fingerprint: str, secret: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(self.secrets).values(fingerprint=fingerprint, secret=secret, created_at=now)
            )

    def secret(self, fingerprint: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(self.secrets.c.secret).where(self.secrets.c.fingerprint == fingerprint)
            ).scalar_one_or_none()
        return None if value is None else str(value)

    # --- positions -------------------------------------------------------------------------

    def state(self, endpoint_id: str) -> DeliveryState | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(self.positions).where(self.positions.c.endpoint_id == endpoint_id)
            ).one_or_none()
        return None if row is None else DeliveryState(**row._asdict())

    def start(self, endpoint_id: str, position: int) -> DeliveryState:
        """The endpoint's delivery state, created at ``position`` if it has none yet."""
        known = self.state(endpoint_id)
        if known is not None:
            return known
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.insert(self.positions).values(
                        endpoint_id=endpoint_id, position=position, replays=0, attempts=0
                    )
                )
        except sa.exc.IntegrityError:
            pass  # it existed, or another process created it first
        state = self.state(endpoint_id)
        assert state is not None
        return state

    def advance(self, state: DeliveryState, position: int, attempts: Sequence[Attempt] = ()) -> bool:
        """Move past ``position`` (delivered or skipped), clear any failure and record the
        attempts, in one transaction; False (nothing written) if another writer moved it."""
        return self._update(
            state, attempts, position=position, attempts=0, failing_since=None, next_attempt_at=None
        )

    def failed(
        self,
        state: DeliveryState,
        position: int,
        records: Sequence[Attempt],
        failures: int,
        failing_since: datetime,
        next_attempt_at: datetime,
    ) -> bool:
        """Store the position (past what was delivered), the back-off of the event after it and
        the attempts so far, in one transaction."""
        return self._update(
            state,
            records,
            position=position,
            attempts=failures,
            failing_since=failing_since,
            next_attempt_at=next_attempt_at,
        )

    def replay(self, state: DeliveryState, replays: int, position: int) -> bool:
        return self._update(
            state,
            (),
            position=position,
            replays=replays,
            attempts=0,
            failing_since=None,
            next_attempt_at=None,
        )

    def _update(self, state: DeliveryState, records: Sequence[Attempt], **values: Any) -> bool:
        table = self.positions
        with self.engine.begin() as conn:
            moved = conn.execute(
                sa.update(table)
                .where(table.c.endpoint_id == state.endpoint_id)
                .where(table.c.position == state.position)
                .where(table.c.replays == state.replays)
                .where(table.c.attempts == state.attempts)
                .values(**values)
            ).rowcount
            if moved != 1:
                return False  # nothing was written
            if records:
                self._record(conn, state.endpoint_id, records)
        return True

    def forget(self, endpoint_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(self.positions).where(self.positions.c.endpoint_id == endpoint_id))

    # --- attempts --------------------------------------------------------------------------

    def _record(self, conn: sa.Connection, endpoint_id: str, attempts: Sequence[Attempt]) -> None:
        table = self.attempts
        conn.execute(
            sa.insert(table),
            [
                {
                    "endpoint_id": endpoint_id,
                    "position": a.position,
                    "event_id": a.event_id,
                    "attempted_at": a.attempted_at,
                    "latency_ms": round(a.latency_ms, 2),
                    "status_code": a.status_code,
                    "error": a.error[:ERROR_TEXT] if a.error else None,
                    "response_excerpt": a.response_excerpt[:EXCERPT] if a.response_excerpt else None,
                }
                for a in attempts
            ],
        )
        self._since_pruned += len(attempts)
        if self._since_pruned >= 100:  # now and then, keep only the recent ones
            self._since_pruned = 0
            cutoff = (
                sa.select(table.c.id)
                .where(table.c.endpoint_id == endpoint_id)
                .order_by(table.c.id.desc())
                .offset(KEPT_ATTEMPTS)
                .limit(1)
                .scalar_subquery()
            )
            conn.execute(
                sa.delete(table).where(table.c.endpoint_id == endpoint_id).where(table.c.id <= cutoff)
            )

    def recent_attempts(self, endpoint_id: str, limit: int = 50) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(self.attempts)
                .where(self.attempts.c.endpoint_id == endpoint_id)
                .order_by(self.attempts.c.id.desc())
                .limit(limit)
            ).all()
        return [row._asdict() for row in rows]

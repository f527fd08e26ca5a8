"""ReadModels: the queries the HTTP layer and the scheduler call on the views.

Reads only; never writes a view row. Whether cancelling *now* is free is derived at read
time from the session's status, ``starts_at`` and ``free_until`` against the ``now`` the
caller passes (the handlers of the views never read a clock, so they cannot know "now").
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from domain.booking import proposal_status
from domain.credits import SOURCES
from domain.lifecycle import (
    CONFIRMED,
    PENDING,
    Timeline,
    allowed_actions,
    change_is_free,
    status_at,
    unrecorded_credit_status,
)
from domain.policy import Policy
from domain.time import Clock, to_utc
from projections.catalog import build_views, schema_versions
from projections.credit_balances import CreditBalances
from projections.deadlines import PendingDeadline
from projections.pending_deadlines import PendingDeadlines
from projections.room_details import RoomDetails
from projections.tables import (
    create_tables,
    credit_balances_tables,
    pending_deadlines_tables,
    room_details_tables,
    scheduler_heartbeats_table,
    stalls_table,
    tracking_table,
)
from projections.versions import Recorded, Versions

VIEW_NAMES = ("room_details", "credit_balances", "pending_deadlines")
SHAPES_INTERVAL = 1.0  # seconds between looks at which views hold another version
SILENT_AFTER_SECONDS = 30.0  # a scheduler heartbeats every few seconds (``booking schedule``)
COUNTS = ("available", "held", "consumed", "forfeited", "restored")


class ReadModels:
    """Queries over the live views. ``now`` defaults to ``clock.now()`` (the system clock if none)."""

    def __init__(self, engine: sa.Engine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock = clock
        metadata = sa.MetaData()
        self._tracking = tracking_table(metadata)
        self._stalls = stalls_table(metadata)
        self._heartbeats = scheduler_heartbeats_table(sa.MetaData())  # migrated, not a view
        self._rooms, self._sessions = room_details_tables(metadata, "")
        _, self._sources, self._balances = credit_balances_tables(metadata, "")
        _, self._deadlines = pending_deadlines_tables(metadata, "")
        self._views_of = {
            self._rooms.name: RoomDetails.name,
            self._sessions.name: RoomDetails.name,
            self._balances.name: CreditBalances.name,
            self._sources.name: CreditBalances.name,
            self._deadlines.name: PendingDeadlines.name,
        }
        build_views(engine)  # the live views' tables, created under the schema lock if missing
        create_tables(engine, metadata, [self._heartbeats])
        self._versions = Versions(engine)
        self._expected = schema_versions()
        self._shapes: dict[str, frozenset[str]] = {}  # live columns of tables an older version wrote
        self._shapes_read_at = -float("inf")

    # --- room details ----------------------------------------------------------------------

    def room_details(self, room_id: str, now: datetime | None = None) -> dict[str, Any] | None:
        at = self._now(now)
        with self.engine.connect() as conn:
            room = conn.execute(self._select(self._rooms).where(self._rooms.c.room_id == room_id)).first()
            if room is None:
                return None
            sessions = conn.execute(
                self._select(self._sessions)
                .where(self._sessions.c.room_id == room_id)
                .order_by(self._sessions.c.starts_at, self._sessions.c.booking_id)
            ).all()
            available = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(self._balances.c.available), 0)).where(
                    self._balances.c.member_id == room.member_id
                )
            ).scalar_one()
            unrecorded = self._unrecorded_credit_moves(conn, room.member_id, at)
        available += sum(1 for _, status in unrecorded if status == "available")
        return {
            "room_id": room.room_id,
            "member_id": room.member_id,
            "provider_id": room.provider_id,
            "opened_at": room.opened_at,
            "sessions": [_session(s, at) for s in sessions],
            "available_credits": int(available),
            "last_change": {"event": room.last_change_type, "at": room.last_change_at},
        }

    def rooms_of_member(self, member_id: str) -> list[dict[str, Any]]:
        return self._rooms_where(self._rooms.c.member_id == member_id)

    def rooms_of_provider(self, provider_id: str) -> list[dict[str, Any]]:
        return self._rooms_where(self._rooms.c.provider_id == provider_id)

    # --- credit balances -------------------------------------------------------------------

    def credit_balances(self, member_id: str, now: datetime | None = None) -> dict[str, Any] | None:
        """The member's balances at ``now``: as the view recorded them, with each credit still
        held by a booking whose deadline is due but not recorded yet counted as that booking's
        status then implies (``domain.lifecycle.unrecorded_credit_status``)."""
        at = self._now(now)
        with self.engine.connect() as conn:
            rows = conn.execute(
                self._select(self._balances).where(self._balances.c.member_id == member_id)
            ).all()
            if not rows:
                return None
            moves = self._unrecorded_credit_moves(conn, member_id, at)
            sources = self._sources_of(conn, member_id, [credit_id for credit_id, _ in moves])
        balances = balances_of(member_id, {row.source: row for row in rows})
        for credit_id, status in moves:
            counts = balances["by_source"].get(sources.get(credit_id, ""))
            if counts is None or counts["held"] < 1:
                continue  # the views disagree for a moment (one ahead of the other): as recorded
            for totals in (counts, balances):
                totals["held"] -= 1
                totals[status] += 1
        return balances

    def _unrecorded_credit_moves(
        self, conn: sa.Connection, member_id: str, now: datetime
    ) -> list[tuple[str, str]]:
        """(credit id, status) for each of the member's sessions still holding its credit in the
        view although its status at ``now`` releases, forfeits or consumes it."""
        table = self._sessions
        live = self._live_columns(table)
        if live is not None and not {"credit_id", "session_end_due", "policy", "confirm_by"} <= live:
            return []  # an older version of the view, until its rebuild switches: as recorded
        due = sa.or_(
            sa.and_(table.c.status == PENDING, table.c.confirm_by <= now),
            sa.and_(table.c.status == CONFIRMED, table.c.session_end_due <= now),
        )
        rows = conn.execute(self._select(table).where(table.c.member_id == member_id, due)).all()
        moves = []
        for row in rows:
            if row.credit_id is None or row.policy is None or row.session_end_due is None:
                continue  # a row an older version of the view wrote: as recorded
            timeline = Timeline.of(row, Policy.recorded(row.policy_version, row.policy))
            status = unrecorded_credit_status(timeline, now)
            if status is not None:
                moves.append((str(row.credit_id), status))
        return moves

    def _sources_of(self, conn: sa.Connection, member_id: str, credit_ids: list[str]) -> dict[str, str]:
        if not credit_ids:
            return {}
        table = self._sources
        rows = conn.execute(
            sa.select(table.c.credit_id, table.c.source).where(
                table.c.member_id == member_id, table.c.credit_id.in_(credit_ids)
            )
        ).all()
        return {str(r.credit_id): str(r.source) for r in rows}

    @staticmethod
    def no_credits(member_id: str) -> dict[str, Any]:
        """The balances of a member who has never had a credit: all zero, same shape."""
        return balances_of(member_id, {})

    # --- pending deadlines -----------------------------------------------------------------

    def pending_deadlines(self) -> list[PendingDeadline]:
        return self._deadlines_where(sa.true())

    def pending_deadlines_due_before(self, instant: datetime) -> list[PendingDeadline]:
        if instant.tzinfo is None:
            raise ValueError("instant must be timezone-aware")
        return self._deadlines_where(self._deadlines.c.due < instant)

    # --- tracking --------------------------------------------------------------------------

    def positions(self) -> dict[str, int]:
        """The last notification id each live view has applied (0 when none yet)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(self._tracking.c.view_name, self._tracking.c.notification_id).where(
                    self._tracking.c.view_name.in_(VIEW_NAMES)
                )
            ).all()
        found = {row.view_name: int(row.notification_id) for row in rows}
        return {name: found.get(name, 0) for name in VIEW_NAMES}

    def stalls(self) -> dict[str, dict[str, Any]]:
        """The live views that cannot apply an event: position, the event and the error."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(self._stalls).where(self._stalls.c.view_name.in_(VIEW_NAMES))).all()
        return {
            row.view_name: {
                "position": int(row.position),
                "event_position": int(row.notification_id),
                "event_type": row.event_type,
                "error": row.error,
            }
            for row in rows
        }

    # --- the scheduler's heartbeat ------------------------------------------------------------

    def scheduler_heartbeat(self, now: datetime | None = None) -> dict[str, Any]:
        """What the ``booking schedule`` processes last recorded (``scheduler.heartbeat``): the
        latest heartbeat's process, age and counts, and the last fire of any of them. ``status``
        is ``beating``, ``silent`` (no heartbeat for ``SILENT_AFTER_SECONDS``) or ``absent``
        (no scheduler has ever recorded one)."""
        at = self._now(now)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(self._heartbeats)).all()
        if not rows:
            return {"status": "absent", "last_fire": None}
        latest = max(rows, key=lambda row: row.beat_at)
        fires = [row for row in rows if row.last_fire_at is not None]
        last_fire = max(fires, key=lambda row: row.last_fire_at).last_fire if fires else None
        age = (at - latest.beat_at).total_seconds()
        return {
            "status": "beating" if age <= SILENT_AFTER_SECONDS else "silent",
            "scheduler_id": latest.scheduler_id,
            "heartbeat_at": latest.beat_at,
            "heartbeat_age_seconds": round(max(0.0, age), 3),
            "pending": int(latest.pending),
            "fired": int(latest.fired),
            "failed": int(latest.failed),
            "last_fire": json.loads(last_fire) if last_fire else None,
        }

    def wait_for(self, position: int | None, timeout: float) -> bool:
        """True once every view has applied ``position``; False if ``timeout`` seconds pass first."""
        if not position:
            return True
        deadline = time.monotonic() + timeout
        pause = 0.005
        while True:
            if min(self.positions().values()) >= position:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.1)

    # --- views being rebuilt -----------------------------------------------------------------

    def schema_versions(self) -> dict[str, dict[str, Any]]:
        """Per view: the version its live tables hold, the one this code builds, and the one
        being built beside them (with the build's position), if any. The positions are read
        before the versions: a build switched in between shows as done, never as a build whose
        position vanished; a build whose tracking row is not made yet is at 0."""
        with self.engine.connect() as conn:
            query = sa.select(self._tracking.c.view_name, self._tracking.c.notification_id)
            positions = dict(conn.execute(query).tuples().all())
        recorded = self._versions.read()
        report: dict[str, dict[str, Any]] = {}
        for name in VIEW_NAMES:
            entry = recorded.get(name)
            building = None
            if entry is not None and entry.building and entry.prefix:
                position = int(positions.get(entry.prefix + name) or 0)
                building = {"schema_version": entry.building, "position": position}
            live = entry.live if entry is not None else None
            report[name] = {"schema_version": live, "expected": self._expected[name], "building": building}
        return report

    def _select(self, table: sa.Table) -> sa.Select[Any]:
        """``SELECT`` of ``table``'s declared columns. Tables an older version of the view wrote
        (kept answering while the new version is built beside them) may lack some: those read
        as NULL, and the answers derive what they can without them."""
        live = self._live_columns(table)
        if live is None:
            return sa.select(table)
        return sa.select(
            *(
                column if column.name in live else sa.type_coerce(sa.null(), column.type).label(column.name)
                for column in table.columns
            )
        ).select_from(table)

    def _live_columns(self, table: sa.Table) -> frozenset[str] | None:
        """The columns of ``table`` as stored, if its view holds another version (else None)."""
        now = time.monotonic()
        if now - self._shapes_read_at >= SHAPES_INTERVAL:
            recorded = self._versions.read()
            outdated = {name for name in VIEW_NAMES if _live(recorded, name) != self._expected[name]}
            shapes: dict[str, frozenset[str]] = {}
            if outdated:
                with self.engine.connect() as conn:
                    inspector = sa.inspect(conn)
                    for name, view in self._views_of.items():
                        if view in outdated and inspector.has_table(name):
                            shapes[name] = frozenset(c["name"] for c in inspector.get_columns(name))
            self._shapes, self._shapes_read_at = shapes, now
        return self._shapes.get(table.name)

    # --- helpers ---------------------------------------------------------------------------

    def _now(self, now: datetime | None) -> datetime:
        if now is None:
            return self.clock.now() if self.clock is not None else datetime.now(UTC)
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return now.astimezone(UTC)

    def _rooms_where(self, condition: sa.ColumnElement[bool]) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            query = self._select(self._rooms).where(condition)
            rows = conn.execute(query.order_by(self._rooms.c.opened_at, self._rooms.c.room_id)).all()
        return [
            {
                "room_id": r.room_id,
                "member_id": r.member_id,
                "provider_id": r.provider_id,
                "opened_at": r.opened_at,
            }
            for r in rows
        ]

    def _deadlines_where(self, condition: sa.ColumnElement[bool]) -> list[PendingDeadline]:
        table = self._deadlines
        with self.engine.connect() as conn:
            rows = conn.execute(
                self._select(table).where(condition).order_by(table.c.due, table.c.booking_id, table.c.kind)
            ).all()
        return [PendingDeadline(r.booking_id, r.kind, r.due, int(r.booking_version)) for r in rows]


def _live(recorded: dict[str, Recorded], name: str) -> str | None:
    entry = recorded.get(name)
    return entry.live if entry is not None else None


def _session(row: Any, now: datetime) -> dict[str, Any]:
    if row.policy is None or row.session_end_due is None:
        row, policy = _completed(row)
    else:
        policy = Policy.recorded(row.policy_version, row.policy)
    timeline = Timeline.of(row, policy)
    return {
        "booking_id": row.booking_id,
        "status": status_at(timeline, now),
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "length_minutes": row.length_minutes,
        "format": row.format,
        "confirm_by": row.confirm_by,
        "free_until": row.free_until,
        "change_is_free": change_is_free(timeline, now),
        "allowed_actions": list(allowed_actions(timeline, now)),
        "joined_at": row.joined_at,
        "provider_joined_at": row.provider_joined_at,
        "outside_availability": bool(row.outside_availability),
        "proposal": _proposal(row.proposal, status_at(timeline, now), now),
        "policy_version": row.policy_version,
        "booking_version": row.booking_version,
        "last_change": {"event": row.last_change_type, "at": row.last_change_at, "by": row.last_change_by},
    }


def _proposal(stored: dict[str, Any] | None, status: str, now: datetime) -> dict[str, Any] | None:
    """The stored proposal with its status at ``now`` (the booking's own rule)."""
    if stored is None:
        return None
    shown = proposal_status({**stored, "expires_at": to_utc(stored["expires_at"], "expires_at")}, status, now)
    return {**stored, "status": shown["status"]} if shown is not None else None


def _completed(row: Any) -> tuple[Any, Policy]:
    """A room-session row an older version of the view wrote, with what it lacks derived as that
    version did (its policy's numbers, today's defaults where the row has none; the session-end
    deadline from them), and that policy. Never through ``Policy.recorded``, which would keep
    guessed numbers under the booking's policy version."""
    values = dict(row._mapping)
    policy = Policy.from_dict(values["policy"]) if values["policy"] is not None else Policy()
    if values["session_end_due"] is None:
        values["session_end_due"] = values["ends_at"] + policy.no_show_grace
    return SimpleNamespace(**values), policy


def balances_of(member_id: str, rows: dict[str, Any]) -> dict[str, Any]:
    """Totals and per-source counts from the view's rows (one per source; missing ones are zero)."""
    by_source = {source: dict.fromkeys(COUNTS, 0) for source in SOURCES}
    for source, row in rows.items():
        by_source[source] = {name: int(getattr(row, name)) for name in COUNTS}
    totals = {name: sum(counts[name] for counts in by_source.values()) for name in COUNTS}
    return {"member_id": member_id, **totals, "by_source": by_source}

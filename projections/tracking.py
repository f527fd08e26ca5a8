"""ViewRecorder: the tracking position of one view, claimed and advanced in the view's transaction.

A library ``TrackingRecorder`` (``insert_tracking``, ``max_tracking_id``, ``has_tracking_id``,
``wait``) backed by one row per view in ``projection_tracking``. Every write to a view
starts by moving that row from the position the writer read to the last notification id
of its batch (compare-and-set). Two runners that read the same position therefore cannot
both commit: PostgreSQL makes the second UPDATE wait on the row lock and then match no
row; SQLite serialises writers and the second sees the moved position. Either way the
loser raises ``PositionMoved`` and its whole transaction (view rows included) rolls back.
``claim_together`` moves several views in one transaction (one BEGIN, UPDATE and COMMIT for
all of them); inside it each view's own ``claim`` joins that transaction.
It must never write view rows itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from eventsourcing.persistence import Tracking, TrackingRecorder

from projections.driver import write

APPLICATION_NAME = "booking"


class PositionMoved(Exception):
    """Another writer advanced (or reset) this view since its position was read."""


@dataclass(frozen=True)
class Stall:
    """A view stopped before the event it cannot apply."""

    position: int  # the view's position: everything up to here is applied
    notification_id: int  # the event it cannot apply
    event_type: str
    error: str

    def as_dict(self) -> dict[str, object]:
        return {
            "position": self.position,
            "event_position": self.notification_id,
            "event_type": self.event_type,
            "error": self.error,
        }


class ViewRecorder(TrackingRecorder):
    def __init__(
        self, engine: sa.Engine, view_name: str, tracking: sa.Table, stalls: sa.Table | None = None
    ) -> None:
        self.engine = engine
        self.view_name = view_name
        self.table = tracking
        self.stalls = stalls
        self._claim = (
            sa.update(tracking)
            .where(tracking.c.view_name == sa.bindparam("key_view"))
            .where(tracking.c.notification_id == sa.bindparam("key_expected"))
            .values(notification_id=sa.bindparam("last"))
        )
        self._claims_many: dict[int, sa.Update] = {}  # by the number of views (an expanding IN
        # list would be compiled anew on every execution)
        self._joined: tuple[sa.Connection, int, int] | None = None  # see claim_together

    def ensure_row(self) -> None:
        """Create the view's tracking row at position 0 unless it exists."""
        if self._read_position() is not None:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.insert(self.table).values(
                        view_name=self.view_name, application_name=APPLICATION_NAME, notification_id=0
                    )
                )
        except sa.exc.IntegrityError:
            pass  # another process created it first

    def position(self) -> int:
        """The last notification id applied to this view (0 = none)."""
        return self._read_position() or 0

    def max_tracking_id(self, application_name: str) -> int | None:
        if application_name != APPLICATION_NAME:
            return None
        return self._read_position() or None

    def insert_tracking(self, tracking: Tracking) -> None:
        """Record that the view has seen ``tracking`` without changing any view row."""
        expected = self.position()
        with self.claim(expected, tracking.notification_id):
            pass

    @contextmanager
    def claim(self, expected: int, last: int) -> Iterator[sa.Connection]:
        """A transaction that moves the position from ``expected`` to ``last`` before yielding.

        View rows written on the yielded connection commit together with the new position,
        or not at all. Raises ``PositionMoved`` if the position is no longer ``expected``.
        """
        if last <= expected:
            raise ValueError(f"cannot move {self.view_name} from {expected} back to {last}")
        if self._joined is not None:
            conn, claimed, claimed_last = self._joined
            if (claimed, claimed_last) != (expected, last):
                raise ValueError(
                    f"{self.view_name} was claimed from {claimed} to {claimed_last} in this transaction"
                )
            yield conn
            return
        with self.engine.begin() as conn:
            claim = {"key_view": self.view_name, "key_expected": expected, "last": last}
            moved = write(conn, self._claim, claim)
            if moved != 1:
                raise PositionMoved(f"view {self.view_name} is no longer at position {expected}")
            yield conn

    def claim_many(self, conn: sa.Connection, views: Sequence[str], expected: int, last: int) -> None:
        """Move the positions of ``views`` (all at ``expected``) to ``last`` on ``conn``."""
        claim = self._claims_many.get(len(views))
        if claim is None:
            claim = self._claims_many[len(views)] = (
                sa.update(self.table)
                .where(self.table.c.view_name.in_([sa.bindparam(f"key_view_{i}") for i in range(len(views))]))
                .where(self.table.c.notification_id == sa.bindparam("key_expected"))
                .values(notification_id=sa.bindparam("last"))
            )
        names = {f"key_view_{i}": name for i, name in enumerate(views)}
        moved = write(conn, claim, {**names, "key_expected": expected, "last": last})
        if moved != len(views):
            raise PositionMoved(f"views {', '.join(views)} are no longer all at position {expected}")

    def reset(self, conn: sa.Connection) -> None:
        """Set the position back to 0 (rebuild), on the caller's transaction."""
        conn.execute(
            sa.update(self.table).where(self.table.c.view_name == self.view_name).values(notification_id=0)
        )
        self._delete_stall(conn)

    def drop(self, conn: sa.Connection) -> None:
        conn.execute(sa.delete(self.table).where(self.table.c.view_name == self.view_name))
        self._delete_stall(conn)

    # --- stalls ----------------------------------------------------------------------------

    def record_stall(self, stall: Stall) -> None:
        if self.stalls is None:
            return
        with self.engine.begin() as conn:
            self._delete_stall(conn)
            conn.execute(
                sa.insert(self.stalls).values(
                    view_name=self.view_name,
                    position=stall.position,
                    notification_id=stall.notification_id,
                    event_type=stall.event_type[:200],
                    error=stall.error[:2000],
                )
            )

    def clear_stall(self) -> None:
        with self.engine.begin() as conn:
            self._delete_stall(conn)

    def stall(self) -> Stall | None:
        if self.stalls is None:
            return None
        with self.engine.connect() as conn:
            query = sa.select(self.stalls).where(self.stalls.c.view_name == self.view_name)
            row = conn.execute(query).first()
        if row is None:
            return None
        return Stall(int(row.position), int(row.notification_id), row.event_type, row.error)

    def _delete_stall(self, conn: sa.Connection) -> None:
        if self.stalls is not None:
            conn.execute(sa.delete(self.stalls).where(self.stalls.c.view_name == self.view_name))

    def _read_position(self) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(self.table.c.notification_id).where(self.table.c.view_name == self.view_name)
            ).scalar_one_or_none()
        return None if value is None else int(value)


@contextmanager
def claim_together(claims: Sequence[tuple[ViewRecorder, int]], last: int) -> Iterator[sa.Connection]:
    """One transaction that moves each recorder's view from its expected position to ``last``.

    Every position is moved first (one UPDATE per distinct expected position), so a runner that
    lost the race learns it before any view has written anything. Inside, a recorder's own
    ``claim(expected, last)`` joins this transaction. All the views' rows and positions commit
    together, or none of them. Raises ``PositionMoved`` if any view was no longer where expected.
    """
    if not claims:
        raise ValueError("nothing to claim")
    first = claims[0][0]
    with first.engine.begin() as connection:
        by_position: dict[int, list[str]] = {}
        for recorder, expected in claims:
            if last <= expected:
                raise ValueError(f"cannot move {recorder.view_name} from {expected} back to {last}")
            by_position.setdefault(expected, []).append(recorder.view_name)
        for expected, names in sorted(by_position.items()):
            first.claim_many(connection, sorted(names), expected, last)
        for recorder, expected in claims:
            recorder._joined = (connection, expected, last)
        try:
            yield connection
        finally:
            for recorder, _ in claims:
                recorder._joined = None

"""ProjectionsRunner: applies the recorded events to the views, exactly once, and follows new ones.

It reads the notification log in batches from the lowest view position and gives each view
the events above its own position, rows and position in one transaction. While following
the head (a short batch), all the views apply it in one transaction (``tracking.
claim_together``: one BEGIN, position UPDATE and COMMIT for all); if any of them cannot (it
lost a race, or an event it cannot apply), nothing of that transaction is kept and each view
applies the batch in a transaction of its own, so one view's trouble never stops the others.
A full batch (catching up, rebuilding) goes view by view.
A batch that lost the race to another runner rolls back and is re-read, so running two
runners is safe, merely wasteful. The runner remembers the positions it wrote and re-reads a
view's only after a lost race or an error. While catching up, the next batch is read and
decoded in the background as the current one is applied.

Following: on PostgreSQL the runner wakes on the recorder's NOTIFY (``wakeup.Wakeup``), with
``poll_interval`` as the longest wait (so a lost LISTEN connection degrades to polling); on
SQLite it polls every ``poll_interval``. Commits that come less than ``gather`` seconds apart
are applied two at a time (the first waits at most ``gather`` for the second). A database
error is retried with back-off; if the database stays unreachable for ``give_up_after``
seconds the error is raised, so the process exits non-zero for its supervisor instead of
hanging.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from eventsourcing.application import Application
from eventsourcing.persistence import Notification, PersistenceError

from commands.service import BookingService
from commands.storage import PoolBudget
from migrations.lock import LockBusy
from projections.catalog import build_views, outdated
from projections.database import create_read_engine
from projections.source import EventLog
from projections.tracking import PositionMoved, Stall, claim_together
from projections.view import View
from projections.wakeup import Wakeup

log = logging.getLogger("booking.projections")

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    PersistenceError,
)


GATHER = 0.03
"""Commits closer together than this many seconds are applied two at a time (``Wakeup.wait``)."""

PING_AFTER_IDLE = 1.0
"""A view connection unused this many seconds is pinged before use (see ``create_read_engine``)."""

PARKED_CHECK_INTERVAL = 1.0
"""Seconds between looks at whether a view's new version has been switched in."""

UPGRADE_RETRY_INTERVAL = 30.0
"""Seconds between attempts at a failed blue/green rebuild (and between looks at another
process's rebuild)."""

LAG_LOG_IDLE_INTERVAL = 300.0
"""Seconds between lag lines while the lag does not change."""


class ViewCannotApply(Exception):
    """A batch holds an event the view cannot apply; find it event by event."""


class Unreadable:
    """A stored event that cannot be decoded, in place of the event."""

    def __init__(self, error: Exception) -> None:
        self.error = error


@dataclass(frozen=True)
class Batch:
    """Notifications read after a position, and their events decoded (those of topics a view
    handles; ``Unreadable`` in place of any that cannot be decoded, listed in ``unreadable``).
    Every id up to ``last`` was read: a rebuild reads only the topics its views apply, so the
    notifications may end before ``last``."""

    notifications: Sequence[Notification]
    events: dict[int, Any]
    last: int
    unreadable: frozenset[int]

    def events_of(self, notifications: Sequence[Notification]) -> list[Any]:
        return [self.events[n.id] for n in notifications]

    def any_unreadable(self, notifications: Sequence[Notification]) -> bool:
        return bool(self.unreadable) and any(n.id in self.unreadable for n in notifications)


class ProjectionsRunner:
    def __init__(
        self,
        database_url: str,
        poll_interval: float = 0.2,
        *,
        names: Sequence[str] | None = None,
        prefix: str = "",
        batch_size: int = 500,
        give_up_after: float = 60.0,
        lag_log_interval: float = 10.0,
        pools: PoolBudget | None = None,
        stall_retry_interval: float = 60.0,
        service: Application[Any] | None = None,
        gather: float | None = None,
    ) -> None:
        """Reads the events through ``service`` (the process's booking service, which the caller
        keeps and closes); without one, opens its own on ``database_url`` and closes it."""
        self.poll_interval = poll_interval
        self.gather = GATHER if gather is None else gather
        self.batch_size = batch_size
        self.give_up_after = give_up_after
        self.lag_log_interval = lag_log_interval
        self.engine = create_read_engine(database_url, pools, ping_after_idle=PING_AFTER_IDLE)
        self._own_service = service is None
        try:
            self.log = EventLog(
                service if service is not None else BookingService.open(database_url, pools=pools)
            )
        except BaseException:
            self.engine.dispose()
            raise
        try:
            self.views = build_views(self.engine, prefix, names)
            self.parked = {view.name for view in outdated(self.engine, self.views)} if not prefix else set()
        except BaseException:
            self.close()
            raise
        self._database_url, self._pools = database_url, pools
        self._parked_checked = time.monotonic()
        self._upgrader: threading.Thread | None = None
        self._topics = frozenset().union(*(view.handled_topics for view in self.views))
        self.stall_retry_interval = stall_retry_interval
        self.stalled: dict[str, Stall] = {}
        self._stall_retry_at: dict[str, float] = {}
        self._retry_pending: dict[str, bool] = {}
        self._last_stall: dict[str, Stall] = {}
        self._recorded_stalls = {view.name for view in self.views}  # an earlier run's may remain
        self._known: dict[str, int] = {}  # view name -> position, as last written by this runner
        self.at_head = False  # the last catch_up read up to the head of the log
        self._reader: ThreadPoolExecutor | None = None
        self._ahead: tuple[int, int | None, Future[Batch]] | None = None
        self.wakeup = Wakeup(self.log.app.recorder)

    def catch_up(
        self,
        stop_at: int | None = None,
        on_progress: Callable[[int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Apply everything recorded so far (up to ``stop_at``); return how far the views moved
        (in notification ids: the events read, where PostgreSQL skipped no id).

        A view that cannot apply an event (deleted predecessor, unreadable row, a bug) stalls:
        it keeps everything before that event, the stall is logged and recorded, and the
        other views carry on. A stalled view is tried again every ``stall_retry_interval``.
        """
        applied = 0
        self.at_head = False
        self._ahead = None  # only ever used within one catch_up
        self._retry_due_stalls()
        self._check_parked()
        while stop is None or not stop.is_set():
            active = [
                view for view in self.views if view.name not in self.stalled and view.name not in self.parked
            ]
            if not active:
                break
            known = [self._known.get(view.view.view_name) for view in active]
            positions = [
                p if p is not None else view.view.position() for view, p in zip(active, known, strict=True)
            ]
            start = min(positions)
            if stop_at is not None and start >= stop_at:
                break
            batch = self._read(start, stop_at)
            notifications, last = batch.notifications, batch.last
            if last <= start:
                self.at_head = True
                break
            if len(notifications) == self.batch_size and (stop_at is None or last < stop_at):
                self._read_ahead(last, stop_at)
            work = [
                (view, position, _handled_by(view, position, notifications))
                for view, position in zip(active, positions, strict=True)
                if position < last
            ]
            for view, _, _ in work:
                self._known.pop(view.view.view_name, None)  # until the batch is known to be written
            # A short batch (following the head: a few events) is applied by all views together,
            # since a transaction's fixed cost is most of its work; a full one (catching up) view
            # by view, where that cost is negligible and racing runners interleave per view.
            short = len(notifications) < self.batch_size
            if not (short and self._apply_together(work, last, batch)):
                reached = [(v, p, mine) for v, p, mine in work if self._apply_alone(v, p, last, mine, batch)]
                complete, work = len(reached) == len(work), reached
            else:
                complete = True
            advanced = 0
            for view, position, _ in work:
                self._forget_stall(view)
                self._known[view.view.view_name] = last
                advanced = max(advanced, last - position)
            applied += advanced
            if on_progress is not None and advanced:
                on_progress(advanced)
            if complete and short:
                self.at_head = True  # a short read ended at the head: reading again would find nothing
                break
        return applied

    def _apply_together(
        self, work: Sequence[tuple[View, int, list[Notification]]], last: int, batch: Batch
    ) -> bool:
        """Apply the batch to every view in one transaction (one BEGIN, position UPDATE and COMMIT
        for all, instead of one each); False, with nothing written, if any view could not (it
        lost a race, or cannot apply an event) — the caller then applies the views one by one,
        so that one view's trouble never holds the others back."""
        if not work:
            return True
        if any(batch.any_unreadable(mine) for _, _, mine in work):
            return False
        try:
            with claim_together([(view.view, position) for view, position, _ in work], last):
                for view, position, mine in work:
                    view.apply_batch(position, last, batch.events_of(mine))
        except TRANSIENT_ERRORS:
            raise
        except Exception:
            log.debug("the views could not apply events up to %d together; applying them one by one", last)
            return False
        return True

    def _apply_alone(
        self, view: View, position: int, last: int, mine: Sequence[Notification], batch: Batch
    ) -> bool:
        """Apply the batch to one view in a transaction of its own; True if it reached ``last``."""
        try:
            if batch.any_unreadable(mine):
                raise ViewCannotApply
            view.apply_batch(position, last, batch.events_of(mine))
        except PositionMoved:
            log.debug("view %s moved under us; re-reading its position", view.view.view_name)
            return False
        except TRANSIENT_ERRORS:
            raise
        except Exception:
            return self._apply_one_by_one(view, position, last, mine, batch.events)
        return True

    def _read(self, start: int, stop_at: int | None) -> Batch:
        """The batch after ``start``."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[:2] == (start, stop_at):
            return ahead[2].result()
        return self._read_and_decode(start, stop_at)

    def _read_and_decode(self, start: int, stop_at: int | None) -> Batch:
        """Up to a batch of notifications after ``start``. Up to a ``stop_at`` (a rebuild, a
        verify), only those of topics a view handles are read, and a shorter batch means that
        every id up to ``stop_at`` was read; following the head, every notification is read, so
        that the positions move past the others too."""
        topics = self._topics if stop_at is not None else None
        notifications = self.log.read(start, self.batch_size, stop=stop_at, topics=topics)
        if stop_at is not None and len(notifications) < self.batch_size:
            last = stop_at
        else:
            last = notifications[-1].id if notifications else start
        events = {n.id: self._decode(n) for n in notifications if n.topic in self._topics}
        unreadable = frozenset(i for i, event in events.items() if type(event) is Unreadable)
        return Batch(notifications, events, last, unreadable)

    def _read_ahead(self, after: int, stop_at: int | None) -> None:
        """Start reading and decoding the batch after ``after`` in the background, while this one is
        applied: a catch-up or rebuild then waits on the database for reads and writes at the same
        time. Used only if every view reaches ``after`` (else the next read starts elsewhere)."""
        if self._reader is None:
            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="projections-read-ahead")
        self._ahead = (after, stop_at, self._reader.submit(self._read_and_decode, after, stop_at))

    def _decode(self, notification: Notification) -> Any:
        try:
            return self.log.decode(notification)
        except Exception as error:  # an edited or corrupted row: only the views that need it stop
            return Unreadable(error)

    def _apply_one_by_one(
        self, view: View, position: int, last: int, mine: Sequence[Notification], events: dict[int, Any]
    ) -> bool:
        """Apply a failed batch event by event to find the one that fails; stall the view
        there. True if the view reached ``last`` after all."""
        for notification in mine:
            event = events[notification.id]
            try:
                if isinstance(event, Unreadable):
                    raise event.error
                view.apply_batch(position, notification.id, [event])
            except PositionMoved:
                return False
            except TRANSIENT_ERRORS:
                raise
            except Exception as error:
                self._stall(view, position, notification, error)
                return False
            position = notification.id
        if position < last:
            view.apply_batch(position, last, [])
        return True

    def _stall(self, view: View, position: int, notification: Notification, error: BaseException) -> None:
        kind = notification.topic.rpartition(":")[2] or notification.topic
        text = f"{type(error).__name__}: {error}".strip()
        stall = Stall(position, notification.id, kind, text)
        previous = self._last_stall.get(view.name)
        self.stalled[view.name] = self._last_stall[view.name] = stall
        self._stall_retry_at[view.name] = time.monotonic() + self.stall_retry_interval
        if previous != stall:
            log.error(
                "view %s stalled: cannot apply event %d (%s, stream %s v%d): %s; it stays at position %d "
                "while the other views carry on (booking verify shows it; booking rebuild %s after a repair)",
                view.name,
                notification.id,
                kind,
                notification.originator_id,
                notification.originator_version,
                text,
                position,
                view.name,
            )
        view.view.record_stall(stall)
        self._recorded_stalls.add(view.name)

    def _retry_due_stalls(self) -> None:
        now = time.monotonic()
        for name in [n for n, at in self._stall_retry_at.items() if at <= now and n in self.stalled]:
            del self.stalled[name]  # try again; a repeat of the same stall is not logged again
            self._retry_pending[name] = True

    def _forget_stall(self, view: View) -> None:
        """The view applied a batch: any stall recorded for it (by us or an earlier run) is over."""
        if view.name in self._recorded_stalls:
            view.view.clear_stall()
            self._recorded_stalls.discard(view.name)
        if self._retry_pending.pop(view.name, False):
            log.info("view %s applies events again", view.name)
            self._last_stall.pop(view.name, None)

    def _check_parked(self, every: float = PARKED_CHECK_INTERVAL) -> None:
        """Take up the parked views whose new tables have been switched in (by this process's
        upgrade or another's) since the last look."""
        now = time.monotonic()
        if not self.parked or now - self._parked_checked < every:
            return
        self._parked_checked = now
        still = {view.name for view in outdated(self.engine, self.views) if view.name in self.parked}
        for name in self.parked - still:
            self._known.pop(name, None)
            log.info("view %s: its new version is live; applying events to it again", name)
        self.parked = still

    def upgrade_parked(self, stop: threading.Event) -> None:
        """Rebuild the parked views blue/green (or wait for the process that does), retrying a
        failed rebuild every ``UPGRADE_RETRY_INTERVAL`` seconds, until none is left or ``stop``."""
        from projections.upgrade import upgrade_views  # it builds runners of its own

        while self.parked and not stop.is_set():
            names = sorted(self.parked)
            try:
                upgrade_views(self._database_url, names, pools=self._pools, wait=UPGRADE_RETRY_INTERVAL)
            except LockBusy:
                pass  # another process is rebuilding them: look again
            except Exception:
                log.exception("rebuilding %s failed; the old tables keep serving; retrying", names)
                stop.wait(UPGRADE_RETRY_INTERVAL)
            self._check_parked(every=0)

    def run_forever(self, stop: threading.Event) -> None:
        """Catch up, then follow new events until ``stop`` is set; meanwhile, rebuild the views
        whose version changed in a thread of their own (``upgrade_parked``)."""
        if self.parked and self._upgrader is None:
            names = sorted(self.parked)
            log.info("views %s hold another version: rebuilding them beside the live tables", names)
            self._upgrader = threading.Thread(
                target=self.upgrade_parked, args=(stop,), name="views-upgrade", daemon=True
            )
            self._upgrader.start()
        failing_since: float | None = None
        pause = self.poll_interval
        logged_lag: dict[str, int] | None = None
        logged_at = checked_at = -float("inf")
        while not stop.is_set():
            try:
                self.wakeup.listen()  # before reading, so no commit after the read goes unnoticed
                applied = self.catch_up(stop=stop)
                now = time.monotonic()
                if now - checked_at >= self.lag_log_interval:  # four queries: not on every batch
                    checked_at = now
                    lag = self.lag()
                    # Quiet when nothing changes: a line when the lag changed, else every few minutes.
                    if lag != logged_lag or now - logged_at >= LAG_LOG_IDLE_INTERVAL:
                        log.info("lag (events behind the head): %s", lag)
                        logged_lag, logged_at = lag, now
            except TRANSIENT_ERRORS as error:
                self._known.clear()
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since >= self.give_up_after:
                    log.error("database unavailable for %.0f s; giving up: %s", now - failing_since, error)
                    raise
                log.warning("database error, retrying in %.1f s: %s", pause, error)
                stop.wait(pause)
                pause = min(pause * 2, 5.0)
                continue
            failing_since, pause = None, self.poll_interval
            if applied == 0 or self.at_head:
                self.wakeup.wait(self.poll_interval, stop, self.gather)

    def positions(self) -> dict[str, int]:
        return {view.name: view.view.position() for view in self.views}

    def lag(self) -> dict[str, int]:
        """Notification ids between each view's position and the head (ids skipped by
        rolled-back PostgreSQL transactions count too, so this is an upper bound)."""
        head = self.log.head()
        return {name: max(0, head - position) for name, position in self.positions().items()}

    def close(self) -> None:
        if self._upgrader is not None:
            self._upgrader.join(timeout=5.0)  # a rebuild cut short is dropped by the next one
        if self._reader is not None:
            self._reader.shutdown(wait=True, cancel_futures=True)
        self.wakeup.close()
        if self._own_service:
            self.log.app.close()
        self.engine.dispose()


def _handled_by(view: View, position: int, notifications: Sequence[Notification]) -> list[Notification]:
    """The notifications above ``position`` of topics ``view`` handles."""
    topics = view.handled_topics
    if notifications and notifications[0].id > position:  # the usual case: all of them are above
        return [n for n in notifications if n.topic in topics]
    return [n for n in notifications if n.id > position and n.topic in topics]

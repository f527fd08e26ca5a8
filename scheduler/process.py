"""DeadlineScheduler: turns time into deadline events, with APScheduler.

What it does. On ``start`` it loads every pending deadline from the pending-deadlines view
into a :class:`DeadlineBook`, then runs three APScheduler jobs: a *due-poller* that hands
the deadlines due by the injected clock to *fires* on a thread pool, a *refresh* that
reconciles the book with the view for everything due within ``LOOKAHEAD`` (so new, moved
and cancelled deadlines are picked up within ``refresh_interval``), and a rarer full
*resync* that keeps far-future deadlines and the pending count honest. A fire calls
``BookingService.record_deadlines`` for its group (see "Groups" below); the booking records
each event only if that deadline is still current, and the service retries version
conflicts. That check, not this process, is what makes a stale deadline, a repeated fire, a
second scheduler process or a restart after a crash harmless: each deadline event is
recorded once.

Why one due-poller and not one APScheduler job per deadline.
- Time is injected. APScheduler's triggers run on the wall clock; a job per deadline would
  need its run time translated from the injected clock, and would then be wrong as soon as
  that clock jumps (a test clock, a corrected system clock). The poller asks the injected
  clock every ``poll_interval`` whether a deadline is due, so "due" has one meaning.
- Scale. 100,000 pending deadlines are 100,000 small tuples in a heap here; as APScheduler
  jobs they would be 100,000 Job and trigger objects kept in a sorted list, each insertion
  moving the list. Reconciling with the view is a set comparison instead of job surgery.
- Durability needs nothing more: the view is the durable source, re-read on every start,
  so the job store is APScheduler's memory store and no job state is ever pickled.
APScheduler runs those three periodic jobs. Each has ``misfire_grace_time=None`` (a late job
runs late, it is never dropped as missed), ``coalesce=True`` (a late run happens once, not once
per missed interval) and ``max_instances=1``.

Why fires are not APScheduler jobs. A group handed out must be fired: the book counts it in
flight until it is recorded, settled or retried, and holds back its bookings' later deadlines
until then. A one-off APScheduler job is skipped and removed when an earlier instance with its
id still runs (``max_instances``), and one submitted while APScheduler shuts down ends its
main loop with ``JobLookupError``. So groups go straight to a ``concurrent.futures`` pool of
``workers`` threads, where a submitted group always runs; a thousand deadlines falling due
together are still recorded concurrently.

Groups. A burst of due deadlines touches bookings, accounts and calendars that this process
has mostly never loaded: one by one, each fire would read its three streams before its one
write, and each write would take the events table's lock for itself. So the poller hands
out deadlines due together in groups of ``FIRE_GROUP``, one fire each, and the fire calls
the service's ``record_deadlines``: two queries read the group's aggregates not yet cached,
each deadline is decided on its own, and those touching distinct aggregates are saved in one transaction
(the others one by one, as ``record_deadline`` would).

Several processes. ``booking schedule`` may run as several processes on one database; they
split the work rather than each doing all of it. Each records a heartbeat
(``scheduler.heartbeat``) and is told, through ``share_with``, the ids of the schedulers whose
heartbeat is recent; it then fires only the deadlines of the bookings it owns among them
(``scheduler.share``: every process computes the same owner, and a change of the live set
moves only the leaving or joining process's bookings). The book still holds every pending
deadline: the due-poller *parks* the others' due deadlines instead of handing them out, and
hands them out at once when the live set changes. So a killed process's share is taken over
as soon as its heartbeat is too old (a few beat intervals), and a new process takes its share
from its first poll, while the others drop it at their next heartbeat. Filtering in the
poller keeps everything else, the book's reconciliation with the view included, as it is
with a single scheduler, and one scheduler alone (the default, and the one in
``booking serve``) owns everything and never parks anything.
During a handover two processes may fire the same deadline (each believes it is its own for
a moment). That is safe: the booking records the event once and the second fire finds it
done; sharing saves work, it is not what makes a fire exactly-once.

It must never decide whether a deadline applies (the booking does), never write to the
views, and never let an error stop the loop: failures are logged and the deadline retried.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.executors.pool import ThreadPoolExecutor as JobExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from commands.service import BookingService
from domain.errors import BookingError, ConcurrencyConflict
from domain.time import Clock, iso
from scheduler.book import Deadline, DeadlineBook
from scheduler.share import owner

log = logging.getLogger(__name__)

LOOKAHEAD = timedelta(minutes=2)
RETRY_DELAY = timedelta(seconds=5)
FIRE_GROUP = 10  # deadlines due together recorded by one fire (see ``_fire``)


class _QuietOverlaps(logging.Filter):
    """Drops APScheduler's warning that a housekeeping run was skipped because the previous
    one is still running: with ``max_instances=1`` that is by design, and a burst of due
    deadlines would otherwise fill the log with it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            "maximum number of running instances reached" in message
            and any(f'"{name} (' in message for name in HOUSEKEEPING_JOBS)
        )


HOUSEKEEPING_JOBS = ("due-poller", "refresh", "resync")
_APSCHEDULER_LOG = logging.getLogger("apscheduler.scheduler")
if not any(isinstance(f, _QuietOverlaps) for f in _APSCHEDULER_LOG.filters):
    _APSCHEDULER_LOG.addFilter(_QuietOverlaps())


class DeadlineSource(Protocol):
    """What the scheduler reads from ``projections.queries.ReadModels``."""

    def pending_deadlines(self) -> list[Any]: ...

    def pending_deadlines_due_before(self, instant: datetime) -> list[Any]: ...


class DeadlineScheduler:
    def __init__(
        self,
        service: BookingService,
        read_models: DeadlineSource,
        clock: Clock,
        refresh_interval: float = 1.0,
        *,
        poll_interval: float = 0.1,
        resync_interval: float = 60.0,
        workers: int = 8,
        scheduler_id: str = "alone",
    ) -> None:
        for name, value in (
            ("refresh_interval", refresh_interval),
            ("poll_interval", poll_interval),
            ("resync_interval", resync_interval),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds; got {value!r}")
        if workers < 1:
            raise ValueError(f"workers must be at least 1; got {workers!r}")
        self._service = service
        self._read_models = read_models
        self._clock = clock
        self._refresh_interval = refresh_interval
        self._poll_interval = poll_interval
        self._resync_interval = resync_interval
        self._workers = workers
        self._book = DeadlineBook()
        self._scheduler: BackgroundScheduler | None = None
        self._fires: ThreadPoolExecutor | None = None
        self._stopping = threading.Event()
        self._stats_lock = threading.Lock()
        self._stats = dict.fromkeys(("fired", "recorded", "stale", "failed", "polls", "refreshes"), 0)
        self._last_fire: dict[str, Any] | None = None
        self._last_refresh: datetime | None = None
        self.scheduler_id = scheduler_id
        self._schedulers = frozenset({scheduler_id})  # the live ones, this one included
        self._polled_with = self._schedulers  # the live set the due-poller last parked by

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Load every pending deadline, then fire the due ones at once and follow the view."""
        if self._scheduler is not None:
            raise RuntimeError("the deadline scheduler is already running")
        self._stopping.clear()
        self._book = DeadlineBook()
        self._polled_with = self._schedulers
        self._resync()
        self._fires = ThreadPoolExecutor(self._workers, thread_name_prefix="deadline-fire")
        scheduler = BackgroundScheduler(
            timezone=UTC,
            jobstores={"default": MemoryJobStore()},
            executors={"default": JobExecutor(len(HOUSEKEEPING_JOBS))},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        scheduler.start()
        self._scheduler = scheduler  # before the poller's first run, which checks it
        first = datetime.now(UTC)
        for name, job, seconds, delay in (
            ("due-poller", self._poll, self._poll_interval, 0.0),  # at once: catch-up after downtime
            ("refresh", self._refresh, self._refresh_interval, self._refresh_interval),
            ("resync", self._resync, self._resync_interval, self._resync_interval),
        ):
            scheduler.add_job(
                job,
                "interval",
                seconds=seconds,
                id=name,
                name=name,
                next_run_time=first + timedelta(seconds=delay),
            )
        log.info("deadline scheduler started with %d pending deadlines", self._book.counts()["pending"])

    def stop(self) -> None:
        """Stop firing; deadlines handed out but not yet recorded fire again on the next start."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is None:
            return
        self._stopping.set()
        scheduler.shutdown(wait=True)  # the poller has stopped handing out
        fires, self._fires = self._fires, None
        if fires is not None:
            fires.shutdown(wait=True, cancel_futures=True)
        log.info("deadline scheduler stopped")

    def share_with(self, live: Iterable[str]) -> None:
        """Fire only this scheduler's share of the bookings among the ``live`` scheduler ids (from
        the heartbeats; this scheduler always counts itself). The due-poller applies it."""
        schedulers = frozenset(live) | {self.scheduler_id}
        if schedulers != self._schedulers:
            log.info(
                "sharing the deadlines among %d live schedulers",
                len(schedulers),
                extra={"fields": {"schedulers": sorted(schedulers), "scheduler_id": self.scheduler_id}},
            )
            self._schedulers = schedulers

    def health(self) -> dict[str, Any]:
        """How many deadlines are pending, the oldest overdue one, and the last fire."""
        now = self._clock.now()
        oldest = self._book.oldest()
        overdue = None
        if oldest is not None and oldest.due <= now:
            overdue = {
                "booking_id": oldest.booking_id,
                "kind": oldest.kind,
                "due": iso(oldest.due),
                "overdue_seconds": round((now - oldest.due).total_seconds(), 3),
            }
        with self._stats_lock:
            stats, last_fire = dict(self._stats), self._last_fire
        return {
            "running": self._scheduler is not None,
            "now": iso(now),
            **self._book.counts(),
            "oldest_overdue": overdue,
            "last_fire": last_fire,
            "last_refresh": iso(self._last_refresh) if self._last_refresh else None,
            "schedulers": len(self._schedulers),
            **stats,
        }

    # --- jobs ------------------------------------------------------------------------------

    def _poll(self) -> None:
        scheduler = self._scheduler
        if scheduler is not None and not self._stopping.is_set():
            now = self._clock.now()
            due = self._book.take_due(now, self._ours())
            for start in range(0, len(due), FIRE_GROUP):
                self._hand_out(due[start : start + FIRE_GROUP])
        self._count("polls")

    def _ours(self) -> Callable[[str], bool] | None:
        """Which bookings the poller may hand out now: ``None`` (all) when alone, else a test
        of the owner among the live schedulers. Only the poller's thread parks and unparks, so
        a deadline parked under one live set is always unparked when that set changes."""
        schedulers = self._schedulers
        if schedulers != self._polled_with:
            self._polled_with = schedulers
            self._book.unpark()
        if len(schedulers) == 1:
            return None
        me = self.scheduler_id
        return lambda booking_id: owner(booking_id, schedulers) == me

    def _hand_out(self, group: list[Deadline]) -> None:
        """One fire for the group, on the fire pool."""
        fires = self._fires
        if fires is None:
            return  # stopping: like a fire after stop, they are fired again on the next start
        try:
            fires.submit(self._fire, group).add_done_callback(_log_failure)
        except RuntimeError:  # the pool is shutting down: they fire again on the next start
            log.info("not firing %d due deadlines: the scheduler is stopping", len(group))

    def _refresh(self) -> None:
        until = self._clock.now() + max(LOOKAHEAD, timedelta(seconds=10 * self._refresh_interval))
        try:
            listed = self._read_models.pending_deadlines_due_before(until)
        except Exception:
            log.exception("could not read the pending deadlines; trying again shortly")
            return
        added, removed = self._book.reconcile(listed, until)
        self._after_reading(added, removed)

    def _resync(self) -> None:
        try:
            listed = self._read_models.pending_deadlines()
        except Exception:
            if self._scheduler is None:
                raise  # at start-up: without the view there is nothing to schedule
            log.exception("could not read the pending deadlines; trying again shortly")
            return
        added, removed = self._book.reconcile(listed)
        self._after_reading(added, removed)

    def _not_recorded(self, deadline: Deadline, error: Exception) -> None:
        """A refusal settles the deadline (firing again cannot help, e.g. no such booking); a
        conflict that outlasted the service's retries, or any failure, retries it later."""
        what = (deadline.kind, deadline.booking_id)
        if isinstance(error, BookingError) and not isinstance(error, ConcurrencyConflict):
            log.warning("deadline %s of booking %s refused: %s", *what, error)
            self._count("stale")
            self._book.settle(deadline)
            return
        if isinstance(error, ConcurrencyConflict):
            log.warning("deadline %s of booking %s kept conflicting; retrying", *what)
        else:
            log.error("firing deadline %s of booking %s failed; retrying", *what, exc_info=error)
        self._count("failed")
        self._book.retry(deadline, self._clock.now() + RETRY_DELAY)

    def _fire(self, group: list[Deadline]) -> None:
        """Record a group of deadlines, each decided on its own by its booking."""
        if self._stopping.is_set():
            return  # not recorded: the view still lists them, so the next start fires them
        self._count("fired", len(group))
        try:
            results = self._service.record_deadlines([(d.booking_id, d.kind, d.due) for d in group])
        except Exception as error:  # e.g. the database went away: every one is retried
            results = [error] * len(group)
        for deadline, result in zip(group, results, strict=True):
            if isinstance(result, Exception):
                self._not_recorded(deadline, result)
            else:
                self._fired(deadline, result)

    def _fired(self, deadline: Deadline, outcome: dict[str, Any]) -> None:
        now = self._clock.now()
        recorded = bool(outcome.get("recorded"))
        if not recorded and now < deadline.due:
            self._book.retry(deadline, deadline.due)  # the clock went back: not due after all
            return
        self._count("recorded" if recorded else "stale")
        with self._stats_lock:
            self._last_fire = {
                "booking_id": deadline.booking_id,
                "kind": deadline.kind,
                "due": iso(deadline.due),
                "at": iso(now),
                "recorded": recorded,
                "lag_seconds": round((now - deadline.due).total_seconds(), 3),
            }
        self._book.settle(deadline)  # after the counts, so "nothing in flight" means "all counted"
        if recorded:
            log.info(
                "recorded %s deadline of booking %s due %s: now %s",
                deadline.kind,
                deadline.booking_id,
                iso(deadline.due),
                outcome.get("status"),
            )

    # --- helpers ---------------------------------------------------------------------------

    def _after_reading(self, added: int, removed: int) -> None:
        self._last_refresh = self._clock.now()
        self._count("refreshes")
        if added or removed:
            log.debug("pending deadlines: %d new, %d no longer pending", added, removed)

    def _count(self, name: str, times: int = 1) -> None:
        with self._stats_lock:
            self._stats[name] += times


def _log_failure(fire: Future[None]) -> None:
    if not fire.cancelled() and (error := fire.exception()) is not None:
        log.error("a fire failed unexpectedly", exc_info=error)

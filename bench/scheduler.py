"""Benchmark of the deadline scheduler on PostgreSQL.

1. Start-up with N pending deadlines (default 100,000) in the pending-deadlines view: the
   time ``DeadlineScheduler.start()`` takes to load them, and the memory the loaded book costs
   (RSS growth, and Python allocations still held per tracemalloc, measured in a second start).
   The rows are written straight into the view's table with far-future due instants, so
   only the scheduler's own reading and bookkeeping is measured.
2. Firing lag when B real bookings (default 1,000) fall due in the same second, twice: their
   free-cancellation closes (one aggregate written each) and then their confirmation
   expiries (booking, credit account and calendar written together). The lag of each deadline
   is the recorded event's instant minus its due instant. The clock is the system clock
   shifted so that the burst falls due two seconds after the scheduler starts. The scheduler
   runs on a service of its own, as the ``booking schedule`` process does: nothing of the
   set-up is in its cache. With ``--processes N`` (N > 1), N scheduler processes, each with
   its own service and ``--workers`` threads, fire the same bursts together (as N
   ``booking schedule`` processes would): each records a heartbeat every ``BEAT`` seconds
   and fires its share of the bookings among the live ones, as ``booking schedule`` does.
   The figures then also say how many deadline events were stored (each must be stored once)
   and, per process, how many deadlines it fired (its share: together about one fire per
   deadline, not one per process), how those fires ended (recorded, or stale: found already
   done) and how many version conflicts its saves met.
   ``--processes 1,2`` runs the whole measurement once per count, each on fresh bookings, so
   the lags of one and two processes come from one run.

Run (PostgreSQL at BOOKING_TEST_POSTGRES_URL or 127.0.0.1:5432/test; uses a scratch schema):
    python -m bench.scheduler [--deadlines 100000] [--burst 1000] [--workers 8] [--processes 1]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import statistics
import sys
import threading
import time
import tracemalloc
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any, Protocol

import psycopg
import sqlalchemy as sa

from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.availability import weekly_hours
from domain.policy import Policy
from migrations.prepare import prepare_database
from projections.database import create_read_engine
from projections.queries import ReadModels
from projections.runner import ProjectionsRunner
from projections.tables import pending_deadlines_tables
from scheduler.heartbeat import Heartbeat, live_window
from scheduler.process import DeadlineScheduler

ADMIN_URL = os.environ.get("BOOKING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # every burst booking starts here
BOOKED_AT = START - timedelta(days=5)
ALL_DAY = weekly_hours("UTC", "00:00", "24:00")
BEAT = 2.0  # seconds between a scheduler process's heartbeats (``booking schedule``'s default)


class ShiftedClock:
    """The system clock moved by an adjustable offset: simulated instants, real durations."""

    def __init__(self, now: datetime) -> None:
        self.shift_to(now)

    def shift_to(self, now: datetime) -> None:
        self.offset = now - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def fill_view(engine: sa.Engine, count: int, after: datetime) -> None:
    """Write ``count`` pending deadlines due after ``after`` straight into the view's table."""
    _, table = pending_deadlines_tables(sa.MetaData(), "")
    kinds = ("confirmation", "free_cancellation", "session_end")
    rows = [
        {
            "booking_id": str(uuid.UUID(int=i // 3 + 1)),
            "kind": kinds[i % 3],
            "due": after + timedelta(hours=1, seconds=37 * i),
            "booking_version": 2,
        }
        for i in range(count)
    ]
    with engine.begin() as conn:
        for i in range(0, count, 10_000):
            conn.execute(table.insert(), rows[i : i + 10_000])


def book_burst(service: BookingService, count: int) -> list[str]:
    """``count`` bookings with distinct members and providers, all starting at START."""

    def one(i: int) -> str:
        member, provider = f"bench-member-{i}", f"bench-provider-{i}"
        service.publish_availability(provider, ALL_DAY, actor=f"provider:{provider}")
        room = service.open_room(member, provider)["room_id"]
        service.add_credits(member, "purchase", 1, "bench", actor=f"member:{member}")
        return str(service.reserve_session(room, START, 60, "video", actor=f"member:{member}")["booking_id"])

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(count)))


def measure_start(service: Any, read_models: ReadModels, clock: ShiftedClock) -> dict[str, float]:
    gc.collect()
    before = rss_bytes()
    scheduler = DeadlineScheduler(service, read_models, clock)
    began = time.perf_counter()
    scheduler.start()
    seconds = time.perf_counter() - began
    pending = scheduler.health()["pending"]
    grown = rss_bytes() - before
    scheduler.stop()
    del scheduler
    gc.collect()
    tracemalloc.start()
    traced = DeadlineScheduler(service, read_models, clock)
    traced.start()
    held, peak = tracemalloc.get_traced_memory()
    traced.stop()
    tracemalloc.stop()
    return {
        "pending": pending,
        "seconds": seconds,
        "rss_mb": grown / 2**20,
        "held_mb": held / 2**20,
        "peak_mb": peak / 2**20,
    }


class Schedulers(Protocol):
    """One or more running deadline schedulers on the benchmark's schema."""

    def shift_to(self, now: datetime) -> None: ...

    def recorded(self) -> int: ...

    def stop(self) -> list[dict[str, Any]]: ...


class InProcess:
    """One scheduler in this process, on a service of its own (a cold cache)."""

    def __init__(self, url: str, read_models: ReadModels, clock: ShiftedClock, workers: int) -> None:
        self.clock = clock
        self.service = BookingService(clock, Policy(), env=event_store_env(url))
        self.scheduler = DeadlineScheduler(self.service, read_models, clock, workers=workers)
        self.scheduler.start()

    def shift_to(self, now: datetime) -> None:
        self.clock.shift_to(now)

    def recorded(self) -> int:
        return int(self.scheduler.health()["recorded"])

    def stop(self) -> list[dict[str, Any]]:
        self.scheduler.stop()
        self.service.close()
        _, conflicts, _ = self.service.command_counts.snapshot()
        return [{**self.scheduler.health(), "conflicts": sum(conflicts.values())}]


def beating(
    heartbeat: Heartbeat, scheduler: DeadlineScheduler, stop: threading.Event, held: threading.Lock
) -> None:
    """As ``booking schedule`` does: beat, and share the deadlines among the live schedulers;
    not while ``held`` (see ``Processes.shift_to``)."""
    while not stop.wait(BEAT):
        with held:
            heartbeat.beat(scheduler.health())
            scheduler.share_with(heartbeat.live(live_window(BEAT)))


def scheduler_process(url: str, workers: int, offset: timedelta, orders: Connection) -> None:
    """A scheduler process: its own service, views and clock; obeys ``orders`` until "stop"."""
    clock = ShiftedClock(START)
    clock.offset = offset
    prepare_database(url)  # as every entry point does: one process at a time, under the schema lock
    engine = create_read_engine(url)
    service = BookingService.open(url, clock, Policy(), create_tables=False)
    heartbeat = Heartbeat(engine, clock, f"bench:{os.getpid()}")
    scheduler = DeadlineScheduler(
        service, ReadModels(engine), clock, workers=workers, scheduler_id=heartbeat.scheduler_id
    )
    heartbeat.beat(scheduler.health())
    scheduler.share_with(heartbeat.live(live_window(BEAT)))
    scheduler.start()
    stop, held = threading.Event(), threading.Lock()
    beats = threading.Thread(target=beating, args=(heartbeat, scheduler, stop, held), daemon=True)
    beats.start()
    orders.send("started")
    while True:
        order, value = orders.recv()
        if order == "hold":
            held.acquire()
            orders.send("held")
        elif order == "shift":
            clock.offset = value
            heartbeat.beat(scheduler.health())
            orders.send("shifted")
        elif order == "release":
            scheduler.share_with(heartbeat.live(live_window(BEAT)))
            held.release()
            orders.send("released")
        elif order == "recorded":
            orders.send(scheduler.health()["recorded"])
        else:
            stop.set()
            beats.join()
            scheduler.stop()
            _, conflicts, _ = service.command_counts.snapshot()
            orders.send({**scheduler.health(), "conflicts": sum(conflicts.values())})
            break
    service.close()
    engine.dispose()


class Processes:
    """``count`` scheduler processes, each started like ``scheduler_process``."""

    def __init__(self, url: str, clock: ShiftedClock, workers: int, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=scheduler_process, args=(url, workers, clock.offset, theirs))
            process.start()
            self.pipes.append(ours)
            self.processes.append(process)
        try:
            for pipe, process in zip(self.pipes, self.processes, strict=True):
                self._answer(pipe, process)
        except SystemExit:
            for process in self.processes:
                process.terminate()
            raise

    def _ask(self, order: str, value: Any = None) -> list[Any]:
        for pipe in self.pipes:
            pipe.send((order, value))
        return [self._answer(pipe, process) for pipe, process in zip(self.pipes, self.processes, strict=True)]

    @staticmethod
    def _answer(pipe: Connection, process: Any) -> Any:
        while not pipe.poll(1.0):
            if not process.is_alive():
                raise SystemExit(f"scheduler process {process.pid} died (exit code {process.exitcode})")
        return pipe.recv()

    def shift_to(self, now: datetime) -> None:
        """Every process's clock jumps, and beats once at the new time, before any of them judges
        which are live again: judged in between, the others' beats would look days old, and a
        process would take itself for the only one (and fire everything) until their next beats.
        Then each judges at once, so all know each other before the burst falls due."""
        self._ask("hold")
        self._ask("shift", now - datetime.now(UTC))
        self._ask("release")

    def recorded(self) -> int:
        return sum(self._ask("recorded"))

    def stop(self) -> list[dict[str, Any]]:
        try:
            return self._ask("stop")
        finally:
            for process in self.processes:
                process.join(30)
                if process.is_alive():
                    process.terminate()


def fire_burst(
    service: BookingService,
    schedulers: Schedulers,
    bookings: list[str],
    kind: str,
    due: datetime,
    event: str,
    recorded_before: int,
) -> tuple[list[float], int]:
    """The lags of the burst's deadline events, sorted, and how many such events are stored."""
    schedulers.shift_to(due - timedelta(seconds=2))
    deadline = time.monotonic() + 600
    while schedulers.recorded() < recorded_before + len(bookings):
        if time.monotonic() > deadline:
            raise SystemExit(f"the {kind} burst did not complete within 10 minutes")
        time.sleep(0.05)
    lags, stored = [], 0
    for booking_id in bookings:
        booking = service.get_booking(booking_id)
        stamps = [
            e.timestamp  # type: ignore[attr-defined]
            for e in service.repository.event_store.get(booking.id)
            if type(e).__name__ == event
        ]
        stored += len(stamps)
        lags.append((stamps[0] - due).total_seconds())
    return sorted(lags), stored


def percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, round(fraction * (len(values) - 1)))]


def measure(args: argparse.Namespace, processes: int, load_too: bool) -> dict[str, Any]:
    """One run on a scratch schema of its own: set-up, (start-up), the two bursts."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{ADMIN_URL}?schema={schema}"
    engine = create_read_engine(url)
    setup_clock = ManualClock(BOOKED_AT)
    service = BookingService(setup_clock, Policy(), env=event_store_env(url))
    figures: dict[str, Any] = {"processes": processes}
    try:
        began = time.perf_counter()
        read_models = ReadModels(engine)
        fill_view(engine, args.deadlines - 2 * args.burst, START)
        bookings = book_burst(service, args.burst)
        runner = ProjectionsRunner(url)
        runner.catch_up()
        runner.close()
        print(f"set-up: {time.perf_counter() - began:.1f} s", file=sys.stderr)

        clock = ShiftedClock(BOOKED_AT + timedelta(hours=1))
        service.clock = clock
        if load_too:
            figures["load"] = measure_start(service, read_models, clock)

        free_until, confirm_by = START - timedelta(hours=48), START - timedelta(hours=24)
        schedulers: Schedulers = (
            InProcess(url, read_models, clock, args.workers)
            if processes == 1
            else Processes(url, clock, args.workers, processes)
        )
        try:
            figures["closes"] = fire_burst(
                service, schedulers, bookings, "free_cancellation", free_until, "FreeCancellationClosed", 0
            )
            figures["expiries"] = fire_burst(
                service, schedulers, bookings, "confirmation", confirm_by, "ConfirmationExpired", args.burst
            )
        finally:
            figures["healths"] = schedulers.stop()
    finally:
        service.close()
        engine.dispose()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deadlines", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument(
        "--processes", default="1", help="scheduler processes; several counts (e.g. 1,2) measure each"
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.processes.split(",")]
    runs = [measure(args, n, load_too=i == 0) for i, n in enumerate(counts)]

    print(f"## Scheduler figures ({os.cpu_count()} cores, shared)")
    load = runs[0]["load"]
    print(
        f"start-up with {load['pending']:,} pending deadlines: {load['seconds']:.2f} s to load;"
        f" RSS +{load['rss_mb']:.0f} MiB; Python allocations held {load['held_mb']:.0f} MiB"
        f" (peak {load['peak_mb']:.0f} MiB, tracemalloc)"
    )
    for run in runs:
        processes = run["processes"]
        who = f"{args.workers} workers" + (f" x {processes} processes" if processes > 1 else "")
        for name in ("closes", "expiries"):
            lags, stored = run[name]
            what = "free-cancellation closes" if name == "closes" else "confirmation expiries"
            print(
                f"{args.burst:,} {what} due in the same second, {who}:"
                f" lag median {statistics.median(lags):.2f} s, p99 {percentile(lags, 0.99):.2f} s,"
                f" max {lags[-1]:.2f} s; events stored: {stored:,} for {args.burst:,} deadlines"
            )
        total = 0
        for number, health in enumerate(run["healths"], 1):
            total += health["fired"]
            fires = ", ".join(
                f"{k} {health[k]:,}" for k in ("fired", "recorded", "stale", "failed", "conflicts")
            )
            print(f"  process {number} of {processes}: {fires}")
        due = 2 * args.burst
        print(f"  fire attempts: {total:,} for {due:,} deadlines ({total / due:.2f} each)")
    print(
        f"command: python -m bench.scheduler --deadlines {args.deadlines} --burst {args.burst}"
        f" --workers {args.workers} --processes {args.processes}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

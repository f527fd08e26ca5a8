"""Benchmark of the projections: rebuild throughput beside the raw read rate, and save-to-view lag.

On a fresh schema of a PostgreSQL database it records a history of ``--events`` events
(bulk-saved member stories, see the projection tests' ``history`` module), then in the same run:

1. reads every notification with ``select_notifications`` only (no decoding): the raw read rate,
   and again decoding each into a domain event with the application's mapper;
2. rebuilds all three views from nothing, in one process and then as ``booking rebuild`` does
   by default (one replaying process per core): each rebuild rate, and its ratio to the raw rate;
3. runs a ``ProjectionsRunner`` following new events while one client issues ``add_credits``
   commands at a steady rate; for each command the lag is the time from the command's
   return (its events saved) until every view's position has reached the command's position.

Beside each rate it prints the CPU seconds the read and the rebuild took in this process and
in the rebuild's replaying processes (on a shared machine the ratio of CPU times moves less
with the other load than the ratio of rates; the database server's own work is not in it).
Beside the runner's CPU per command it prints the part spent catching up (reading, decoding
and applying batches), the part spent in waiting for a commit's notification, and the rest
(the loop itself and its lag checks). The schema is dropped afterwards; it never touches other
schemas.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import sys
import threading
import time
import uuid

import psycopg

from commands.clock import SystemClock
from commands.service import BookingService
from commands.storage import event_store_env
from projections.database import create_read_engine
from projections.queries import ReadModels
from projections.rebuild import rebuild_views
from projections.runner import ProjectionsRunner
from tests.integration.projections.history import EVENTS_PER_MEMBER, record_history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=50.0, help="commands per second while measuring lag")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long each lag run lasts")
    parser.add_argument("--poll-intervals", default="0.2", help="runner poll intervals to measure")
    args = parser.parse_args(argv)

    schema = f"bench_projections_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{args.postgres_url}?schema={schema}"
    try:
        run(url, args)
    finally:
        with psycopg.connect(args.postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    print("reproduce: PYTHONPATH=. python -m bench.projections " + shlex.join(argv or sys.argv[1:]))
    return 0


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its ended children (the rebuild's replaying processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(url: str, args: argparse.Namespace) -> None:
    app = BookingService(SystemClock(), env=event_store_env(url))
    started = time.perf_counter()
    head = record_history(app, -(-args.events // EVENTS_PER_MEMBER))
    print(f"recorded {head} events in {time.perf_counter() - started:.1f} s")

    started, cpu_started = time.perf_counter(), time.process_time()
    read, position = 0, 0
    while batch := app.recorder.select_notifications(start=position + 1, limit=1000):
        read += len(batch)
        position = batch[-1].id
    raw_seconds, raw_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    raw_rate = read / raw_seconds
    print(
        f"raw read (select only):   {read} events in {raw_seconds:6.1f} s = {raw_rate:9.0f} events/s"
        f" ({raw_cpu:.2f} s of CPU)"
    )

    started = time.perf_counter()
    decoded, position = 0, 0
    while batch := app.recorder.select_notifications(start=position + 1, limit=1000):
        decoded += sum(1 for n in batch if app.mapper.to_domain_event(n) is not None)
        position = batch[-1].id
    decode_rate = decoded / (time.perf_counter() - started)
    print(f"read and decode:          {decoded} events at {decode_rate:9.0f} events/s")

    started = time.perf_counter()
    ProjectionsRunner(url).close()  # the views' tables exist: each rebuild below only replays
    print(f"views' tables created in {time.perf_counter() - started:.2f} s (in neither rebuild below)")
    rebuild_rate = 0.0
    for processes in (1, None):
        started, cpu_started = time.perf_counter(), _cpu_with_children()
        replayed = rebuild_views(url, processes=processes)
        rebuild_seconds, rebuild_cpu = time.perf_counter() - started, _cpu_with_children() - cpu_started
        rebuild_rate = replayed / rebuild_seconds
        label = f"rebuild, {processes or os.cpu_count()} process{'es' if processes != 1 else ''}:"
        print(
            f"{label:26}{replayed} events in {rebuild_seconds:6.1f} s = {rebuild_rate:9.0f} events/s"
            f" ({rebuild_cpu:.2f} s of CPU here and in replaying processes);"
            f" ratio to the raw read {rebuild_rate / raw_rate:.3f} (of CPU time: {raw_cpu / rebuild_cpu:.3f})"
        )
    print(f"rebuild / raw read ratio: {rebuild_rate / raw_rate:.3f} (the default, last line above)")

    for poll_interval in (float(p) for p in args.poll_intervals.split(",")):
        lags, cpu, parts = measure_lag(app, url, poll_interval, args.rate, args.seconds)
        parts["other"] = cpu - sum(parts.values())  # the loop itself, its lag checks
        split = ", ".join(f"{part} {seconds / len(lags) * 1000:.2f}" for part, seconds in parts.items())
        print(
            f"lag save→view at {args.rate:g} commands/s, poll {poll_interval:g} s: "
            f"median {statistics.median(lags) * 1000:.0f} ms, p99 {percentile(lags, 99) * 1000:.0f} ms "
            f"({len(lags)} commands); runner CPU {cpu / len(lags) * 1000:.2f} ms per command "
            f"(of which {split})"
        )
    app.close()


def measure_lag(
    app: BookingService, url: str, poll_interval: float, rate: float, seconds: float
) -> tuple[list[float], float, dict[str, float]]:
    """Lags of ``rate`` commands a second for ``seconds``, the runner thread's CPU seconds, and
    how many of them went to catching up (reading, decoding, applying) and to waiting for a
    commit (the LISTEN connection)."""
    runner = ProjectionsRunner(url, poll_interval)
    runner.catch_up()
    stop = threading.Event()
    cpu: list[float] = []
    parts = {"catch-up": 0.0, "waiting": 0.0}
    timed(runner, "catch_up", parts, "catch-up")
    timed(runner.wakeup, "wait", parts, "waiting")

    def follow() -> None:
        began = time.thread_time()
        try:
            runner.run_forever(stop)
        finally:
            cpu.append(time.thread_time() - began)

    follower = threading.Thread(target=follow)
    follower.start()
    views = ReadModels(create_read_engine(url))
    waiting: list[tuple[int, float]] = []
    lags: list[float] = []
    lock = threading.Lock()
    done = threading.Event()

    def watch() -> None:
        while not (done.is_set() and not waiting):
            reached = min(views.positions().values())
            now = time.perf_counter()
            with lock:
                lags.extend(now - saved for position, saved in waiting if position <= reached)
                waiting[:] = [(p, s) for p, s in waiting if p > reached]
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    interval, count = 1 / rate, int(rate * seconds)
    begin = time.perf_counter()
    for n in range(count):
        time.sleep(max(0.0, begin + n * interval - time.perf_counter()))
        position = app.add_credits(f"lag-member-{n % 50}", "purchase", 1, f"lag-{n}")["position"]
        with lock:
            waiting.append((position, time.perf_counter()))
    done.set()
    watcher.join(60)
    stop.set()
    follower.join(60)
    runner.close()
    views.engine.dispose()
    return lags, cpu[0], parts


def timed(target: object, name: str, parts: dict[str, float], part: str) -> None:
    """Add the thread CPU seconds of each call of ``target.name`` to ``parts[part]``."""
    method = getattr(target, name)

    def measured(*args: object, **kwargs: object) -> object:
        began = time.thread_time()
        try:
            return method(*args, **kwargs)
        finally:
            parts[part] += time.thread_time() - began

    setattr(target, name, measured)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


if __name__ == "__main__":
    sys.exit(main())

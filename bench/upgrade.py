"""Benchmark of an upgrade's blue/green rebuild: how long, and what reads saw meanwhile.

On a fresh schema of a PostgreSQL database (or a temporary SQLite file with ``--sqlite``) it
records ``--events`` events (bulk-saved member stories, see the projection tests' ``history``
module), brings the views up to date, then leaves them as an earlier release did (the room
sessions table without two later columns, no versions recorded). A projections runner then
starts as ``booking project`` does after an upgrade: it rebuilds the three views beside the old
tables and switches them in. Meanwhile a reader asks for random rooms' details and balances
without pause. It prints the rebuild's wall time, the reads served during it with their
latency percentiles, how many failed, and how many answered anything but the complete
answer (the answer before the upgrade, which the rebuilt view must equal).
"""

from __future__ import annotations

import argparse
import random
import shlex
import statistics
import sys
import threading
import time
from typing import Any

import sqlalchemy as sa

from bench.scratch import scratch_database
from commands.clock import SystemClock
from commands.service import BookingService
from commands.storage import event_store_env
from projections.database import create_read_engine
from projections.queries import ReadModels
from projections.runner import ProjectionsRunner
from tests.integration.projections.history import EVENTS_PER_MEMBER, record_history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sqlite", action="store_true", help="on a temporary SQLite file instead")
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args(argv)
    with scratch_database("upgrade", args.postgres_url, sqlite=args.sqlite) as url:
        run(url, args)
    print("reproduce: PYTHONPATH=. python -m bench.upgrade " + shlex.join(argv or sys.argv[1:]))
    return 0


def run(url: str, args: argparse.Namespace) -> None:
    members = -(-args.events // EVENTS_PER_MEMBER)
    app = BookingService(SystemClock(), env=event_store_env(url))
    try:
        head = record_history(app, members)
    finally:
        app.close()
    runner = ProjectionsRunner(url, batch_size=10_000)
    try:
        runner.catch_up()
    finally:
        runner.close()
    engine = create_read_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE room_sessions DROP COLUMN session_end_due"))
        conn.execute(sa.text("ALTER TABLE room_sessions DROP COLUMN policy"))
        conn.execute(sa.text("DROP TABLE view_versions"))
    views = ReadModels(engine)
    sample = random.Random(7).sample(range(members), min(members, 500))
    expected = {n: _answer(views, n) for n in sample}
    print(f"recorded {head} events ({members} members); views left as an earlier release left them")

    latencies: list[float] = []
    failures: list[str] = []
    wrong = 0
    stop_reading = threading.Event()

    def read() -> None:
        nonlocal wrong
        pick = random.Random(11)
        while not stop_reading.is_set():
            n = pick.choice(sample)
            started = time.perf_counter()
            try:
                answer = _answer(views, n)
            except Exception as error:
                failures.append(f"{type(error).__name__}: {error}")
                continue
            latencies.append(time.perf_counter() - started)
            wrong += answer != expected[n]

    reader = threading.Thread(target=read)
    reader.start()
    stop = threading.Event()
    runner = ProjectionsRunner(url)
    started = time.perf_counter()
    projector = threading.Thread(target=runner.run_forever, args=(stop,))
    projector.start()
    try:
        while runner.parked:
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        stop_reading.set()
        reader.join()
        stop.set()
        projector.join()
        runner.close()
    engine.dispose()
    backend = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
    print(f"{backend}: blue/green rebuild of {head} events: {seconds:.1f} s ({head / seconds:,.0f} events/s)")
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    print(
        f"reads meanwhile: {len(latencies)} answered, {len(failures)} failed, "
        f"{wrong} not the complete answer; "
        f"latency p50 {quantiles[49] * 1000:.1f} ms, p99 {quantiles[98] * 1000:.1f} ms, "
        f"max {max(latencies, default=0) * 1000:.1f} ms"
    )
    for failure in failures[:5]:
        print(f"  failed: {failure}")


def _answer(views: ReadModels, n: int) -> Any:
    rooms = views.rooms_of_member(f"member-{n}")
    return views.credit_balances(f"member-{n}"), [views.room_details(room["room_id"]) for room in rooms]


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark of the core: reserve+confirm commands per second through BookingService.

Runs 1 and N concurrent clients (threads) on a fresh SQLite file and on a fresh PostgreSQL
database, then measures the raw PostgreSQL ceiling of this machine with ``pgbench``
(single-row INSERT transactions, 4 clients, a custom script) so that the ratio
commands/s ÷ pgbench tps can be printed. While the PostgreSQL runs go, a sampler counts
the sessions waiting for a lock on the events table, which shows how the library's
per-write ``LOCK TABLE ... IN EXCLUSIVE MODE`` serialises writers.

Bookings never collide: every client works through its own groups of (member, provider,
room), each group booking 30-minute sessions at distinct hours. The clock is a fixed manual
clock; the start times are what move. Setup commands are not counted.

It creates and drops its own scratch database; it never touches another database's tables.

Run it as a module from the repository root: ``PYTHONPATH=. python -m bench.core``.
"""

from __future__ import annotations

import argparse
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg

from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.availability import weekly_hours

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GROUP = 25  # bookings per (member, provider) group, so no aggregate grows without bound
ALL_DAY = weekly_hours("UTC", "00:00", "24:00")


@dataclass
class Result:
    backend: str
    clients: int
    commands: int
    seconds: float
    latencies: list[float]
    lock_waiters: float | None = None

    @property
    def per_second(self) -> float:
        return self.commands / self.seconds

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def prepare(service: BookingService, clients: int, pairs: int, tag: str) -> list[list[str]]:
    """Open one room per group and give its member enough credits; return rooms per client."""
    rooms: list[list[str]] = []
    for client in range(clients):
        mine = []
        for group in range(-(-pairs // GROUP)):
            member, provider = f"{tag}m{client}-{group}", f"{tag}p{client}-{group}"
            service.publish_availability(provider, ALL_DAY, actor=f"provider:{provider}")
            service.add_credits(member, "purchase", GROUP, "bench")
            mine.append(str(service.open_room(member, provider)["room_id"]))
        rooms.append(mine)
    return rooms


def client_loop(
    service: BookingService,
    rooms: list[str],
    pairs: int,
    tag: str,
    client: int,
    latencies: list[float],
    barrier: threading.Barrier,
) -> None:
    barrier.wait()
    for i in range(pairs):
        group, n = divmod(i, GROUP)
        member, provider = f"{tag}m{client}-{group}", f"{tag}p{client}-{group}"
        start = NOW + timedelta(days=2, hours=n)
        t0 = time.perf_counter()
        booking = service.reserve_session(rooms[group], start, 30, "video", actor=f"member:{member}")
        t1 = time.perf_counter()
        service.confirm_session(booking["booking_id"], actor=f"provider:{provider}")
        t2 = time.perf_counter()
        latencies.extend((t1 - t0, t2 - t1))


class LockSampler(threading.Thread):
    """Counts sessions waiting for a relation lock on the events table, every 20 ms."""

    def __init__(self, admin_url: str) -> None:
        super().__init__(daemon=True)
        self.admin_url, self.stop = admin_url, threading.Event()
        self.samples: list[int] = []

    def run(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while not self.stop.wait(0.02):
                row = conn.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE NOT l.granted AND c.relname = 'booking_events'"
                ).fetchone()
                self.samples.append(row[0] if row else 0)


def run_one(backend: str, database_url: str, clients: int, pairs: int, admin_url: str | None) -> Result:
    clock = ManualClock(NOW)
    service = BookingService(clock, env=event_store_env(database_url))
    try:
        tag = f"c{clients}"
        rooms = prepare(service, clients, pairs, tag)
        barrier = threading.Barrier(clients + 1)
        latencies: list[list[float]] = [[] for _ in range(clients)]
        threads = [
            threading.Thread(
                target=client_loop, args=(service, rooms[c], pairs, tag, c, latencies[c], barrier)
            )
            for c in range(clients)
        ]
        for thread in threads:
            thread.start()
        sampler = LockSampler(admin_url) if admin_url else None
        if sampler:
            sampler.start()
        barrier.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        waiting = None
        if sampler:
            sampler.stop.set()
            sampler.join()
            waiting = statistics.fmean(sampler.samples) if sampler.samples else 0.0
        flat = [x for part in latencies for x in part]
        return Result(backend, clients, len(flat), elapsed, flat, waiting)
    finally:
        service.close()


INSERT_ONE_ROW = "INSERT INTO bench_insert (payload) VALUES ('one row');\n"
LOCKED_INSERT = "BEGIN;\nLOCK TABLE bench_insert IN EXCLUSIVE MODE;\n" + INSERT_ONE_ROW + "COMMIT;\n"
# The lock-bound ceiling of a command's write: three rows in one transaction under the lock.
LOCKED_THREE_ROWS = (
    "BEGIN;\nLOCK TABLE bench_insert IN EXCLUSIVE MODE;\n"
    "INSERT INTO bench_insert (payload) VALUES ('row 1'), ('row 2'), ('row 3');\nCOMMIT;\n"
)


def pgbench_tps(db_url: str, seconds: int, transaction: str = INSERT_ONE_ROW) -> float:
    """``transaction`` as a custom pgbench script, 4 clients, against a scratch table."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_insert (id bigserial PRIMARY KEY, payload text NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now())"
        )
    url = urlparse(db_url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(transaction)
    command = [
        "pgbench",
        "-n",
        "-c",
        "4",
        "-j",
        "2",
        "-T",
        str(seconds),
        "-f",
        script.name,
        "-h",
        url.hostname or "127.0.0.1",
        "-p",
        str(url.port or 5432),
        "-U",
        url.username or "postgres",
        url.path.lstrip("/"),
    ]
    try:
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        if run.returncode:
            raise RuntimeError(f"pgbench failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
        output = run.stdout
    finally:
        Path(script.name).unlink(missing_ok=True)
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    if not match:
        raise RuntimeError(f"could not read pgbench output:\n{output}")
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="an admin URL; a scratch database is created next to it and dropped",
    )
    parser.add_argument("--clients", default="1,8", help="comma-separated client (thread) counts")
    parser.add_argument("--pairs", type=int, default=150, help="reserve+confirm pairs per client")
    parser.add_argument("--pgbench-seconds", type=int, default=5, help="length of one pgbench run")
    parser.add_argument(
        "--pgbench-repeats", type=int, default=3, help="runs of each script; the median counts"
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    counts = [int(n) for n in args.clients.split(",")]

    scratch = f"booking_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(args.postgres, autocommit=True)
    admin.execute(f'CREATE DATABASE "{scratch}"')
    scratch_url = urlunparse(urlparse(args.postgres)._replace(path=f"/{scratch}"))
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            for clients in counts:
                if not args.skip_sqlite:
                    results.append(
                        run_one("sqlite", f"sqlite:///{folder}/bench-{clients}.db", clients, args.pairs, None)
                    )
                    report(results[-1])
                schema = f"bench_{clients}"
                with psycopg.connect(scratch_url, autocommit=True) as conn:
                    conn.execute(f'CREATE SCHEMA "{schema}"')
                results.append(
                    run_one("postgres", f"{scratch_url}?schema={schema}", clients, args.pairs, scratch_url)
                )
                report(results[-1])
        # Alternate the plain and the locked script so that load from other work hits both alike.
        plain_runs, locked_runs, three_runs = [], [], []
        for _ in range(args.pgbench_repeats):
            plain_runs.append(pgbench_tps(scratch_url, args.pgbench_seconds))
            locked_runs.append(pgbench_tps(scratch_url, args.pgbench_seconds, LOCKED_INSERT))
            three_runs.append(pgbench_tps(scratch_url, args.pgbench_seconds, LOCKED_THREE_ROWS))
        tps, locked_tps = statistics.median(plain_runs), statistics.median(locked_runs)
        three_tps = statistics.median(three_runs)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        admin.close()

    runs = f"median of {args.pgbench_repeats} x {args.pgbench_seconds} s"
    print(
        f"\npgbench ceiling (single-row INSERT, 4 clients, {runs}): {tps:.0f} tps "
        f"(runs: {', '.join(f'{t:.0f}' for t in plain_runs)})"
    )
    print(
        f"pgbench, the same INSERT after LOCK TABLE ... IN EXCLUSIVE MODE (the library's pattern): "
        f"{locked_tps:.0f} tps (runs: {', '.join(f'{t:.0f}' for t in locked_runs)})"
    )
    print(
        f"pgbench, three rows in one transaction under that lock (the lock-bound ceiling): "
        f"{three_tps:.0f} tps (runs: {', '.join(f'{t:.0f}' for t in three_runs)})"
    )
    for r in results:
        if r.backend == "postgres":
            print(
                f"ratio postgres {r.clients} client(s): {r.per_second:.0f} commands/s / {tps:.0f} tps "
                f"= {r.per_second / tps:.3f}; / {three_tps:.0f} locked 3-row tps = "
                f"{r.per_second / three_tps:.2f}"
            )
    print("\nreproduce: PYTHONPATH=. python -m bench.core " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    return 0


def report(r: Result) -> None:
    waiting = (
        f", {r.lock_waiters:.2f} sessions waiting on the events-table lock on average"
        if r.lock_waiters is not None
        else ""
    )
    print(
        f"{r.backend:8} {r.clients} client(s): {r.per_second:7.1f} commands/s "
        f"({r.commands} commands in {r.seconds:.1f} s), median {r.quantile(0.5):.1f} ms, "
        f"p99 {r.quantile(0.99):.1f} ms{waiting}",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark of the HTTP API: reserve-session through HTTP versus the same command in-process.

On PostgreSQL (a scratch schema, dropped afterwards), for 1 and 16 concurrent clients:
- in-process: client threads call ``BookingService.reserve_session`` directly;
- HTTP: client threads (one keep-alive ``http.client`` connection each) POST ``/bookings`` to
  a real ``booking serve --api-only --workers N`` process (N API processes; default the number
  of cores) on a local port. The load generator shares the machine's cores with the server and
  PostgreSQL, so it is the lightest client the standard library has: the same requests and the
  same end-to-end latencies (from before sending to the whole answer read) as with httpx, for
  about a third of httpx's CPU per request (0.5-0.7 ms against 1.6-1.7 ms, one client at a
  time, 2026-11-27).
Every member holds ``--credits`` credits (500 by default) before its client starts. In the same
run it measures pgbench's single-row INSERT rate (4 clients) on a scratch database, so that the
HTTP rate can be read as a ratio of what the database could do.
Each client reserves in its own room with its own provider and member, at distinct start
times, so bookings never collide; the setup commands (rooms, availability, credits) are not
counted. Reports requests/s, p50/p99 latency, the CPU time the serving process spent per
request (the bench process in-process; the server process over HTTP), and the overhead ratios.

Run (PostgreSQL at BOOKING_TEST_POSTGRES_URL or 127.0.0.1:5432/test):
    PYTHONPATH=. python -m bench.http [--requests 240] [--clients 1 16]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from commands.clock import SystemClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.availability import weekly_hours
from domain.policy import Policy
from domain.time import iso

ADMIN_URL = os.environ.get("BOOKING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REPOSITORY = Path(__file__).resolve().parents[1]
ALL_DAY = weekly_hours("UTC", "00:00", "24:00")


class Lane:
    """One client's room, provider and member, and the start times it has not used yet."""

    def __init__(self, service: BookingService, name: str, count: int, credits: int = 0) -> None:
        self.member, self.provider = f"m-{name}", f"p-{name}"
        self.room_id = service.open_room(self.member, self.provider)["room_id"]
        service.publish_availability(self.provider, ALL_DAY)
        left = max(count, credits)
        while left > 0:
            service.add_credits(self.member, "purchase", min(left, 1000), f"bench-{left}")
            left -= 1000
        first = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
        self.starts = [first + timedelta(hours=i) for i in range(count)]


def timed_clients(
    lanes: list[Lane], reserve: Callable[[Lane, datetime], object]
) -> tuple[float, list[float]]:
    """Run one thread per lane through all its start times; (wall seconds, latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(lanes) + 1)

    def client(lane: Lane) -> None:
        mine = []
        barrier.wait()
        for start in lane.starts:
            began = time.perf_counter()
            reserve(lane, start)
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(lane,)) for lane in lanes]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, latencies


def summary(wall: float, latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "rps": len(ordered) / wall,
        "p50": statistics.median(ordered) * 1000,
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "n": len(ordered),
    }


class KeepAlive:
    """One keep-alive HTTP/1.1 connection to the server, used by one client thread."""

    def __init__(self, base: str) -> None:
        host, _, port = base.removeprefix("http://").partition(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, bytes]:
        payload = json.dumps(body).encode()
        self.connection.request("POST", path, payload, {**headers, "Content-Type": "application/json"})
        response = self.connection.getresponse()
        return response.status, response.read()  # the whole answer, as a client would use it

    def close(self) -> None:
        self.connection.close()


def http_reserver(sessions: dict[str, KeepAlive], token: str) -> Callable[[Lane, datetime], None]:
    def reserve(lane: Lane, start: datetime) -> None:
        status, answer = sessions[lane.room_id].post(
            "/bookings",
            {"room_id": lane.room_id, "starts_at": iso(start), "length_minutes": 30, "format": "video"},
            {"Authorization": f"Bearer {token}", "X-Actor": f"member:{lane.member}"},
        )
        if status != 201:
            raise RuntimeError(f"reserve failed: {status} {answer.decode(errors='replace')}")

    return reserve


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its direct children (the API worker processes)."""
    total = process_cpu_seconds(pid)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                total += process_cpu_seconds(int(entry.name))
    return total


def start_server(database_url: str, token: str, workers: int | None) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKING_")}
    env.update(
        PYTHONPATH=str(REPOSITORY), BOOKING_DATABASE_URL=database_url, BOOKING_API_TOKENS=f"{token}:service"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "entrypoints", "serve", "--api-only", "--port", str(port)]
        + (["--workers", str(workers)] if workers else []),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("booking serve did not become healthy within 60 s")


def warm_up(service: BookingService, base: str, token: str, clients: int = 2) -> None:
    """Open connection pools and import lazily loaded code on both paths before measuring, with
    as many concurrent clients as the largest measured row, so that every pool has already
    grown to what that load opens (a new PostgreSQL connection costs tens of milliseconds)."""
    lanes = [Lane(service, f"warm-{i}", 10) for i in range(2 * clients)]
    timed_clients(
        lanes[:clients],
        lambda lane, start: service.reserve_session(
            lane.room_id, start, 30, "video", actor=f"member:{lane.member}"
        ),
    )
    sessions = {lane.room_id: KeepAlive(base) for lane in lanes[clients:]}
    timed_clients(lanes[clients:], http_reserver(sessions, token))
    for session in sessions.values():
        session.close()


def run(requests: int, concurrency: list[int], workers: int | None, credits: int) -> list[dict[str, Any]]:
    schema = f"bench_http_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{ADMIN_URL}?schema={schema}"
    token = secrets.token_urlsafe(24)
    service = BookingService(SystemClock(), Policy(), env=event_store_env(url))
    process, base = start_server(url, token, workers)
    rows = []
    try:
        warm_up(service, base, token, max(concurrency))
        for clients in concurrency:
            per_client = max(1, requests // clients)
            lanes = [Lane(service, f"ip{clients}-{i}", per_client, credits) for i in range(clients)]

            def in_process(lane: Lane, start: datetime) -> None:
                service.reserve_session(lane.room_id, start, 30, "video", actor=f"member:{lane.member}")

            before = time.process_time()
            local = summary(*timed_clients(lanes, in_process))
            local["cpu"] = (time.process_time() - before) / local["n"] * 1000
            lanes = [Lane(service, f"http{clients}-{i}", per_client, credits) for i in range(clients)]
            sessions = {lane.room_id: KeepAlive(base) for lane in lanes}

            over_http = http_reserver(sessions, token)
            before, client_before = tree_cpu_seconds(process.pid), time.process_time()
            remote = summary(*timed_clients(lanes, over_http))
            remote["cpu"] = (tree_cpu_seconds(process.pid) - before) / remote["n"] * 1000
            remote["client_cpu"] = (time.process_time() - client_before) / remote["n"] * 1000
            for session in sessions.values():
                session.close()
            rows.append({"clients": clients, "in_process": local, "http": remote})
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        service.close()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=240, help="reservations per configuration (240)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16], help="concurrent clients (1 16)")
    parser.add_argument("--workers", type=int, help="booking serve --workers (default: its own default)")
    parser.add_argument("--credits", type=int, default=500, help="credits each member holds (500)")
    parser.add_argument("--pgbench-seconds", type=int, default=5, help="length of one pgbench run (5)")
    args = parser.parse_args()
    rows = run(args.requests, args.clients, args.workers, args.credits)
    tps = pgbench_ceiling(args.pgbench_seconds)
    print(f"reserve-session on PostgreSQL, {args.requests} requests per row")
    print("| clients | path | requests/s | p50 latency | p99 latency | CPU per request (serving process) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        for path in ("in_process", "http"):
            figures = row[path]
            print(
                f"| {row['clients']} | {path.replace('_', '-')} | {figures['rps']:.1f} | "
                f"{figures['p50']:.1f} ms | {figures['p99']:.1f} ms | {figures['cpu']:.1f} ms |"
            )
    for row in rows:
        print(
            f"{row['clients']} client(s): the load generator's own CPU per HTTP request "
            f"{row['http']['client_cpu']:.2f} ms (it shares the cores with the server)"
        )
    for row in rows:
        ratio = row["in_process"]["rps"] / row["http"]["rps"]
        extra = row["http"]["p50"] - row["in_process"]["p50"]
        print(
            f"{row['clients']} client(s): HTTP overhead ratio (in-process rps / HTTP rps) {ratio:.2f}; "
            f"p50 HTTP - p50 in-process = {extra:+.1f} ms"
        )
    print(f"pgbench single-row INSERT, 4 clients, median of 3 x {args.pgbench_seconds} s: {tps:.0f} tps")
    for row in rows:
        print(f"{row['clients']} client(s): HTTP requests/s / pgbench tps = {row['http']['rps'] / tps:.3f}")
    print("command: PYTHONPATH=. python -m bench.http " + shlex.join(sys.argv[1:]))


def pgbench_ceiling(seconds: int) -> float:
    """pgbench's single-row INSERT rate on a scratch database (median of three runs)."""
    from urllib.parse import urlparse, urlunparse

    from bench.core import pgbench_tps

    scratch = f"booking_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{scratch}"')
    try:
        url = urlunparse(urlparse(ADMIN_URL)._replace(path=f"/{scratch}"))
        return statistics.median(pgbench_tps(url, seconds) for _ in range(3))
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


if __name__ == "__main__":
    main()

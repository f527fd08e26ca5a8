"""Benchmark of the feed's long-poll: how soon ``GET /events?wait=`` answers after a commit.

A long-poll is held open (``after`` the head, ``wait`` 10 s) against the real API over HTTP
(uvicorn in a thread, as ``booking serve`` runs it); once the API holds the waiter, one
command commits one published event (``add_credits``), and the latency is the answer's arrival
minus the command's return. Repeated ``--rounds`` times on SQLite (a temporary file) and on
PostgreSQL (a scratch schema); median and p99 per backend. The tests only check that the
answer comes and carries the event (``tests/e2e/test_http_events.py``): how fast belongs here,
where a busy machine shows as a slower number, not as a failed suite.

Run (PostgreSQL at BOOKING_TEST_POSTGRES_URL or 127.0.0.1:5432/postgres):
    PYTHONPATH=. python -m bench.feed [--rounds 50] [--backend sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from bench.scratch import scratch_database
from commands.clock import SystemClock
from commands.service import BookingService
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from projections.database import create_read_engine
from projections.queries import ReadModels

ADMIN_URL = os.environ.get("BOOKING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TOKEN = "bench-feed-token-0123456789abcdef"
WAIT = 10.0


@contextmanager
def database(backend: str) -> Iterator[str]:
    """A fresh store: a temporary SQLite file, or a scratch PostgreSQL schema dropped after."""
    with scratch_database("feed", ADMIN_URL, sqlite=backend == "sqlite") as url:
        yield url


@contextmanager
def serving(url: str) -> Iterator[tuple[str, BookingService, Any]]:
    """The API over ``url`` on a free local port: (base URL, its service, its app state)."""
    service = BookingService.open(url, SystemClock())
    engine = create_read_engine(url)
    settings = Settings(database_url=url, api_tokens=((TOKEN, "service"),))
    app = create_app(settings, service, ReadModels(engine, SystemClock()))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", service, app.state
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        if getattr(app.state, "commit_signal", None) is not None:
            app.state.commit_signal.close()
        sock.close()
        engine.dispose()
        service.close()


def held(state: Any) -> bool:
    signal = getattr(state, "commit_signal", None)
    return bool(signal is not None and signal._waiters)


def one_round(base: str, service: BookingService, state: Any, client: httpx.Client, number: int) -> float:
    """Milliseconds from a commit's return to the long-poll's answer carrying it."""
    after = service.recorder.max_notification_id() or 0
    answered: dict[str, Any] = {}

    def poll() -> None:
        response = client.get(f"{base}/events", params={"after": after, "wait": WAIT})
        answered["at"] = time.perf_counter()
        answered["types"] = [e["type"] for e in response.json()["events"]]

    poller = threading.Thread(target=poll)
    poller.start()
    while not held(state):
        time.sleep(0.001)
    service.add_credits("bench-member", "purchase", 1, f"order-{number}")
    committed = time.perf_counter()
    poller.join(timeout=WAIT + 5)
    if answered.get("types") != ["CreditsAdded"]:
        raise RuntimeError(f"round {number}: the long-poll answered {answered.get('types')}")
    return (answered["at"] - committed) * 1000


def measure(backend: str, rounds: int) -> list[float]:
    with database(backend) as url, serving(url) as (base, service, state):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(headers=headers, timeout=WAIT + 5) as client:
            one_round(base, service, state, client, -1)  # warm-up
            return sorted(one_round(base, service, state, client, n) for n in range(rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    for backend in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
        latencies = measure(backend, args.rounds)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"{backend}: commit -> long-poll answer, median {statistics.median(latencies):.1f} ms, "
            f"p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms ({args.rounds} rounds)"
        )
    print(f"reproduce: PYTHONPATH=. python -m bench.feed --rounds {args.rounds} --backend {args.backend}")


if __name__ == "__main__":
    main()

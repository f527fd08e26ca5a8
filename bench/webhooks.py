"""Benchmark of webhook delivery on PostgreSQL.

1. Throughput: N events (default 5,000 CreditsAdded, bulk-saved) delivered by the deliverer to
   one fast local endpoint (a threading HTTP server in its own process, answering 200 at
   once); events/s from the deliverer's start to the last receipt.
2. Latency: commands (``add_credits``, one published event each) at a steady rate (default
   50/s for 20 s) while the deliverer runs with its default poll interval (0.2 s); the latency
   of each event is its receipt at the endpoint minus the moment its command returned
   (committed). Median and p99.

Run (PostgreSQL at BOOKING_TEST_POSTGRES_URL or 127.0.0.1:5432/test; uses a scratch schema):
    PYTHONPATH=. python -m bench.webhooks [--events 5000] [--rate 50] [--seconds 20] [--poll 0.2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any

import psycopg

from commands.clock import SystemClock
from commands.service import BookingService
from commands.webhooks import WebhookCommands
from domain.actors import Actor
from domain.credits import CreditAccount
from migrations.prepare import prepare_database
from projections.database import create_read_engine
from webhooks.delivery import Deliverer, DeliverySettings
from webhooks.store import WebhookStore

ADMIN_URL = os.environ.get("BOOKING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def serve(port_out: Connection, receipts: Any) -> None:
    """The fast endpoint: answers 200 at once and reports (position, receipt time)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            receipts.put((json.loads(body)["position"], time.time()))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_out.send(server.server_address[1])
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--poll", type=float, default=0.2)
    args = parser.parse_args()

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{ADMIN_URL}?schema={schema}"
    receipts: Any = multiprocessing.Queue()
    parent, child = multiprocessing.Pipe()
    endpoint = multiprocessing.Process(target=serve, args=(child, receipts), daemon=True)
    endpoint.start()
    port = parent.recv()
    prepare_database(url)
    service = BookingService.open(url, SystemClock(), create_tables=False)
    engine = create_read_engine(url)
    try:
        store = WebhookStore(engine)
        commands = WebhookCommands(service, store)
        commands.register_webhook(f"http://127.0.0.1:{port}/hooks", ["CreditsAdded"], actor="operator:bench")

        account = CreditAccount.open("bench-member", datetime.now(UTC))
        for number in range(args.events):
            account.add("purchase", 1, f"order-{number}", Actor("system", "bench"), datetime.now(UTC))
            if (number + 1) % 1000 == 0:
                service.save(account)
        service.save(account)

        settings = DeliverySettings(poll_interval=args.poll)
        deliverer = Deliverer(service, store, SystemClock(), settings)
        stop = threading.Event()
        started = time.time()
        thread = threading.Thread(target=deliverer.run_forever, args=(stop,), daemon=True)
        thread.start()
        last = started
        for _ in range(args.events):
            _, last = receipts.get(timeout=120)
        throughput = args.events / (last - started)

        committed: dict[int, float] = {}
        total = int(args.rate * args.seconds)
        begin = time.perf_counter()
        for number in range(total):
            time.sleep(max(0.0, begin + number / args.rate - time.perf_counter()))
            outcome = service.add_credits(f"member-{number % 50}", "purchase", 1, f"steady-{number}")
            committed[outcome["position"]] = time.time()
        latencies: list[float] = []
        while len(latencies) < total:
            position, received = receipts.get(timeout=60)
            if position in committed:
                latencies.append((received - committed[position]) * 1000)
        stop.set()
        thread.join(timeout=30)
    finally:
        service.close()
        engine.dispose()
        endpoint.terminate()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"throughput: {args.events} events to one fast local endpoint in {last - started:.2f} s "
        f"= {throughput:,.0f} events/s"
    )
    print(
        f"commit -> receipt at {args.rate:g} commands/s for {args.seconds:g} s (poll {args.poll:g} s): "
        f"median {statistics.median(latencies):.0f} ms, p99 {p99:.0f} ms ({total} events)"
    )
    print(
        "reproduce: PYTHONPATH=. python -m bench.webhooks "
        f"--events {args.events} --rate {args.rate:g} --seconds {args.seconds:g} --poll {args.poll:g}"
    )


if __name__ == "__main__":
    main()

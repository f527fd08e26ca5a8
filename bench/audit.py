"""Benchmark of the audit on a large store: history of one booking, full verify, raw read rate.

It fills a fresh store with N events (default 1,000,000) that the real domain objects
produce: providers with a calendar, members with a room and a credit ledger, bookings that
are reserved, confirmed, joined and completed (one in ten is cancelled early instead). The
events are mapped by the library's mapper, chained exactly as the service chains them and
bulk-inserted through the recorder in large batches (generation is timed on its own).

Then, in the same run, on the same events:
- raw read: every stored event paged through ``select_notifications`` (no decoding);
- verify: ``audit.verify.verify_store`` (decode, hash chains, replay, every invariant; the
  read-model comparison is not included, there are no views in this store);
- history: ``audit.history.booking_history`` of randomly chosen bookings (median, p99).

It creates its own SQLite file (or uses an empty PostgreSQL schema it creates and drops);
it never touches another database.
"""

from __future__ import annotations

import argparse
import random
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, StoredEvent

from audit.history import booking_history
from audit.log import read_log
from audit.verify import verify_store
from commands.chain import chain_onto
from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.actors import Actor
from domain.availability import weekly_hours
from domain.booking import SESSION_END, Booking
from domain.calendar import ProviderCalendar
from domain.credits import CreditAccount
from domain.policy import Policy
from domain.room import Room

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ALL_DAY = weekly_hours("UTC", "00:00", "24:00")
MEMBERS_PER_PROVIDER = 30  # a member's bookings are 60 h apart, so each completes before the next
BOOKINGS_PER_PROVIDER = 700
BATCH = 10_000
PLATFORM, SYSTEM = Actor("platform", "live"), Actor("system", "bench")


class Generator:
    """Plays the domain and bulk-inserts what it records, chained as the service chains it."""

    def __init__(self, app: BookingService, target: int) -> None:
        self.app, self.target = app, target
        self.mapper: Mapper[UUID] = Mapper(app.mapper.transcoder)
        self.heads: dict[uuid.UUID | str, str] = {}
        self.batch: list[StoredEvent] = []
        self.written = 0
        self.booking_ids: list[str] = []
        self.policy = Policy()

    def save(self, *aggregates: Aggregate) -> None:
        for aggregate in aggregates:
            for event in aggregate.collect_events():
                self.batch.append(chain_onto(self.heads, self.mapper.to_stored_event(event)))
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            self.app.recorder.insert_events(self.batch)
            self.written += len(self.batch)
            self.batch = []

    def run(self) -> None:
        provider_no = 0
        while self.written + len(self.batch) < self.target:
            self.provider(f"p{provider_no}")
            provider_no += 1
        self.flush()

    def provider(self, provider_id: str) -> None:
        me = Actor("provider", provider_id)
        calendar = ProviderCalendar.open(provider_id, T0)
        calendar.publish(ALL_DAY, me, T0)
        members = [f"{provider_id}-m{i}" for i in range(MEMBERS_PER_PROVIDER)]
        rooms = {m: Room.open(m, provider_id, SYSTEM, T0) for m in members}
        accounts = {m: CreditAccount.open(m, T0) for m in members}
        self.save(calendar, *rooms.values(), *accounts.values())
        for k in range(BOOKINGS_PER_PROVIDER):
            if self.written + len(self.batch) >= self.target:
                return
            member = members[k % len(members)]
            account, member_actor = accounts[member], Actor("member", member)
            now = T0 + timedelta(hours=2 * k)
            if account.first_available() is None:
                account.add("purchase", 10, f"order-{k}", member_actor, now)
            start = now + timedelta(hours=48)
            booking = Booking.reserve(rooms[member], account, calendar, start, 45, "video", self.policy,
                                      member_actor, now)  # fmt: skip
            self.save(booking, account, calendar)
            self.booking_ids.append(str(booking.id))
            if k % 10 == 9:
                booking.cancel(account, calendar, "", False, member_actor, now + timedelta(minutes=30))
                self.save(booking, account, calendar)
                continue
            booking.confirm(me, now + timedelta(hours=1))
            self.save(booking)
            booking.record_member_joined(PLATFORM, start)
            self.save(booking)
            booking.record_deadline(SESSION_END, booking.session_end_due, account, calendar,
                                    booking.session_end_due)  # fmt: skip
            self.save(booking, account, calendar)


def chain_cost(app: BookingService, count: int = 20_000) -> tuple[float, float]:
    """Microseconds per event to map a save's events, with the plain mapper and with the chain."""
    account = CreditAccount.open("chain-cost", T0)
    for i in range(count - 1):
        account.add("purchase", 1, f"r{i}", SYSTEM, T0)
    events = account.collect_events()
    plain: Mapper[UUID] = Mapper(app.mapper.transcoder)
    chained = app.mapper
    figures = []
    for mapper in (plain, chained):
        began = time.perf_counter()
        for event in events:
            mapper.to_stored_event(event)
        figures.append((time.perf_counter() - began) / len(events) * 1e6)
    return figures[0], figures[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(database_url: str, events: int, samples: int) -> dict[str, Any]:
    app = BookingService(ManualClock(T0), env=event_store_env(database_url))
    try:
        generator = Generator(app, events)
        began = time.perf_counter()
        generator.run()
        generation = time.perf_counter() - began
        total = app.recorder.max_notification_id() or 0

        began = time.perf_counter()
        raw = sum(1 for _ in read_log(app.recorder))
        raw_seconds = time.perf_counter() - began

        began = time.perf_counter()
        report = verify_store(app.recorder, app.mapper)
        verify_seconds = time.perf_counter() - began
        if not report.ok:
            raise SystemExit(f"verify found breaches in generated data: {report.breaches[:5]}")

        rng = random.Random(7)
        timings = []
        for booking_id in rng.sample(generator.booking_ids, min(samples, len(generator.booking_ids))):
            began = time.perf_counter()
            booking_history(app, booking_id)
            timings.append((time.perf_counter() - began) * 1000)
        plain_us, chained_us = chain_cost(app)
        return {
            "plain_map_us": plain_us,
            "chained_map_us": chained_us,
            "events": total,
            "generation_s": generation,
            "generation_rate": total / generation,
            "raw_read_rate": raw / raw_seconds,
            "raw_read_s": raw_seconds,
            "verify_rate": report.events / verify_seconds,
            "verify_s": verify_seconds,
            "streams": report.streams,
            "history_median_ms": statistics.median(timings),
            "history_p99_ms": percentile(timings, 0.99),
            "samples": len(timings),
        }
    finally:
        app.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=500, help="bookings whose history is timed")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="server and database for --backend postgres (a scratch schema is used)",
    )
    args = parser.parse_args(argv)
    command = "PYTHONPATH=. python -m bench.audit " + shlex.join(argv if argv is not None else sys.argv[1:])
    with tempfile.TemporaryDirectory() as folder:
        if args.backend == "sqlite":
            figures = measure(f"sqlite:///{Path(folder) / 'audit.db'}", args.events, args.samples)
        else:
            schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            try:
                figures = measure(f"{args.postgres}?schema={schema}", args.events, args.samples)
            finally:
                with psycopg.connect(args.postgres, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    f = figures
    print(f"backend {args.backend}: {f['events']:,} events in {f['streams']:,} streams")
    print(f"generation (domain + mapper + chain + bulk insert): {f['generation_s']:.1f} s, "
          f"{f['generation_rate']:,.0f} events/s")  # fmt: skip
    print(f"raw read (select_notifications pages, no decoding): {f['raw_read_rate']:,.0f} events/s "
          f"({f['raw_read_s']:.1f} s)")  # fmt: skip
    print(f"full verify (decode, chains, replay, invariants): {f['verify_rate']:,.0f} events/s "
          f"({f['verify_s']:.1f} s)")  # fmt: skip
    print(f"history of one booking ({f['samples']} bookings): median {f['history_median_ms']:.2f} ms, "
          f"p99 {f['history_p99_ms']:.2f} ms")  # fmt: skip
    print(f"mapping one event for a save: {f['plain_map_us']:.1f} µs plain, "
          f"{f['chained_map_us']:.1f} µs with the hash-chain link")  # fmt: skip
    print(f"reproduce: {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

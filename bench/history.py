"""Benchmark: does a reserve cost more for a member or a provider with a long history?

In one run, on a fresh PostgreSQL schema (or a SQLite file with ``--sqlite``), it builds three
kinds of party and times ``reserve_session`` for each, round-robin so that load from other
work hits all alike:

- *fresh*: a member with 2 credits, booking with a provider with no sessions;
- *long-ledger member*: a member who was granted and consumed 2,000 credits (one grant and
  one session each) before the run, booking with a fresh provider;
- *busy provider*: a provider with 10,000 past and 900 future sessions, booked by a fresh member.

Each timed reserve is followed by an untimed cancel (credit and slot released), so the parties'
state does not drift during the run. The history is written straight through the domain
objects and the service's ``save`` in batches (it is setup, not measured). It prints p50 / p99
per kind, their ratios to the fresh kind, and the size of each aggregate's latest snapshot.

Run from the repository root: ``PYTHONPATH=. python -m bench.history``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

from bench.scratch import scratch_database
from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.actors import Actor
from domain.availability import weekly_hours
from domain.calendar import ProviderCalendar
from domain.credits import CreditAccount

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALL_DAY = weekly_hours("UTC", "00:00", "24:00")
SYSTEM = Actor("system", "bench")
BATCH = 500


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def long_ledger(service: BookingService, member: str, credits: int) -> None:
    """``credits`` grants of one credit, each held and consumed by a session of its own."""
    account = CreditAccount.open(member, NOW - timedelta(days=3 * 365))
    for n in range(credits):
        at = NOW - timedelta(days=3 * 365) + timedelta(hours=12 * n)
        account.add("purchase" if n % 3 else "insurance", 1, f"order-{n}", SYSTEM, at)
        credit = account.hold(f"past-{n}", at + timedelta(days=1), Actor("member", member), at)
        account.consume(credit, f"past-{n}", SYSTEM, at + timedelta(days=2))
        if len(account.pending_events) >= BATCH:
            service.save(account)
    service.save(account)


def busy_calendar(service: BookingService, provider: str, past: int, future: int) -> None:
    """``past`` sessions over the last three years, then ``future`` ones in the next 60 days."""
    calendar = ProviderCalendar.open(provider, NOW - timedelta(days=3 * 365 + 1))
    calendar.publish(ALL_DAY, SYSTEM, NOW - timedelta(days=3 * 365 + 1))
    step = timedelta(days=3 * 365) / past
    for n in range(past):
        at = NOW - timedelta(days=3 * 365) + n * step
        hold(calendar, f"past-{n}", at, at + timedelta(days=2))
        if len(calendar.pending_events) >= BATCH:
            service.save(calendar)
    for n in range(future):
        # every 30 minutes from day 2 on, leaving the bench's own starts (day 40 on) free
        hold(calendar, f"future-{n}", NOW - timedelta(minutes=1), NOW + timedelta(days=2, minutes=30 * n))
        if len(calendar.pending_events) >= BATCH:
            service.save(calendar)
    service.save(calendar)


def hold(calendar: ProviderCalendar, booking_id: str, at: datetime, starts_at: datetime) -> None:
    calendar.trigger_event(
        calendar.SlotHeld,
        booking_id=booking_id,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=30),
        actor=str(SYSTEM),
        timestamp=at,
    )


def snapshot_bytes(service: BookingService, ident: uuid.UUID) -> int:
    snapshots = (
        list(service.snapshots.recorder.select_events(ident, desc=True, limit=1)) if service.snapshots else []
    )
    return len(snapshots[0].state) if snapshots else 0


def run(url: str, args: argparse.Namespace) -> None:
    clock = ManualClock(NOW)
    service = BookingService(clock, env=event_store_env(url))
    try:
        kinds = {
            "fresh": ("m-fresh", "p-fresh"),
            "long-ledger member": ("m-ledger", "p-for-ledger"),
            "busy provider": ("m-for-busy", "p-busy"),
        }
        began = time.perf_counter()
        long_ledger(service, "m-ledger", args.credits)
        busy_calendar(service, "p-busy", args.past, args.future)
        print(f"history written in {time.perf_counter() - began:.1f} s", flush=True)
        rooms = {}
        for kind, (member, provider) in kinds.items():
            if provider != "p-busy":
                service.publish_availability(provider, ALL_DAY, actor=f"provider:{provider}")
            service.add_credits(member, "purchase", 2, f"{member}-start")
            rooms[kind] = str(service.open_room(member, provider)["room_id"])
        # a fresh service object: every aggregate is loaded from the store once, then cached
        service.close()
        service = BookingService(clock, env=event_store_env(url))
        latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
        for n in range(args.warmup + args.reserves):
            start = NOW + timedelta(days=40, minutes=30 * (n % 500))
            for kind, (member, _) in kinds.items():
                t0 = time.perf_counter()
                booking = service.reserve_session(rooms[kind], start, 30, "video", actor=f"member:{member}")
                elapsed = time.perf_counter() - t0
                service.cancel_session(booking["booking_id"], actor=f"member:{member}")
                if n >= args.warmup:
                    latencies[kind].append(elapsed)
        base50, base99 = quantile(latencies["fresh"], 0.5), quantile(latencies["fresh"], 0.99)
        for kind, values in latencies.items():
            p50, p99 = quantile(values, 0.5), quantile(values, 0.99)
            print(
                f"{kind:20} reserve p50 {p50:6.2f} ms ({p50 / base50:.2f}x fresh), "
                f"p99 {p99:6.2f} ms ({p99 / base99:.2f}x fresh), {len(values)} reserves"
            )
        account = service.get_account("m-ledger")
        calendar = service.get_calendar("p-busy")
        print(
            f"long-ledger member: {sum(account.balance().values())} credits ever, latest snapshot "
            f"{snapshot_bytes(service, account.id)} bytes; busy provider: {len(calendar.slots)} slots "
            f"in its state, latest snapshot {snapshot_bytes(service, calendar.id)} bytes"
        )
    finally:
        service.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sqlite", action="store_true", help="a temporary SQLite file instead")
    parser.add_argument("--credits", type=int, default=2000)
    parser.add_argument("--past", type=int, default=10_000)
    parser.add_argument("--future", type=int, default=900)
    parser.add_argument("--reserves", type=int, default=300, help="timed reserves per kind")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args(argv)
    with scratch_database("history", args.postgres_url, sqlite=args.sqlite) as url:
        run(url, args)
    print("reproduce: PYTHONPATH=. python -m bench.history " + shlex.join(argv or sys.argv[1:]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

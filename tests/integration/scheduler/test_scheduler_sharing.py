"""Two schedulers on one PostgreSQL database split the due deadlines between them by their
heartbeats: each deadline is recorded once and fired about once in all (not once by each), and
a scheduler whose heartbeat is older than the live window no longer counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from commands.clock import ManualClock
from commands.service import BookingService
from commands.storage import event_store_env
from domain.policy import Policy
from migrations.prepare import prepare_database
from projections.database import create_read_engine
from projections.queries import ReadModels
from scheduler.heartbeat import Heartbeat, live_window
from scheduler.process import DeadlineScheduler
from scheduler.share import owner
from tests.integration.scheduler.deployment import ALL_DAY_UTC
from tests.polling import wait_until
from tests.views import catch_up_views

pytestmark = pytest.mark.postgres

MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
START = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
BOOKINGS = 40
WINDOW = live_window(2.0)  # beats every 2 s: live for 6 s


@pytest.fixture
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    prepare_database(postgres_url)  # the heartbeats' table is the migrations'
    engine = create_read_engine(postgres_url)
    yield engine
    engine.dispose()


def book_many(url: str, clock: ManualClock) -> list[str]:
    """``BOOKINGS`` unconfirmed bookings of one provider, an hour apart, and the views caught up."""
    service = BookingService(clock, Policy(), env=event_store_env(url))
    try:
        service.publish_availability("dr-okafor", ALL_DAY_UTC, actor="provider:dr-okafor")
        made = []
        for i in range(BOOKINGS):
            member = f"member-{i}"
            room = service.open_room(member, "dr-okafor")["room_id"]
            service.add_credits(member, "purchase", 1, f"order-{i}", actor=f"member:{member}")
            starts_at = START + timedelta(hours=i)
            made.append(
                str(
                    service.reserve_session(room, starts_at, 45, "video", actor=f"member:{member}")[
                        "booking_id"
                    ]
                )
            )
    finally:
        service.close()
    catch_up_views(url)
    return made


def test_two_schedulers_fire_each_due_deadline_once_between_them(
    postgres_url: str, engine: sa.Engine
) -> None:
    clock = ManualClock(MONDAY)
    bookings = book_many(postgres_url, clock)
    services = [BookingService(clock, Policy(), env=event_store_env(postgres_url)) for _ in range(2)]
    heartbeats = [Heartbeat(engine, clock, name) for name in ("host:1", "host:2")]
    schedulers = [
        DeadlineScheduler(
            service, ReadModels(engine, clock), clock, 0.05, poll_interval=0.01, scheduler_id=h.scheduler_id
        )
        for service, h in zip(services, heartbeats, strict=True)
    ]
    try:
        for heartbeat, scheduler in zip(heartbeats, schedulers, strict=True):
            heartbeat.beat(scheduler.health())
        for heartbeat, scheduler in zip(heartbeats, schedulers, strict=True):
            scheduler.share_with(heartbeat.live(WINDOW))
            scheduler.start()
        clock.set(START + timedelta(hours=BOOKINGS))  # every close and expiry is due
        wait_until(
            lambda: sum(s.health()["recorded"] for s in schedulers) == 2 * BOOKINGS,
            60,
            "every deadline to be recorded",
        )
        healths = [s.health() for s in schedulers]
    finally:
        for scheduler in schedulers:
            scheduler.stop()
        for service in services:
            service.close()

    ours = [sum(owner(b, ["host:1", "host:2"]) == h.scheduler_id for b in bookings) for h in heartbeats]
    assert [h["schedulers"] for h in healths] == [2, 2]
    assert [h["fired"] for h in healths] == [2 * n for n in ours]  # each its share, no more
    assert all(n > 0 for n in ours)
    assert sum(h["fired"] for h in healths) == 2 * BOOKINGS  # not twice that: nothing doubled
    assert sum(h["stale"] + h["failed"] for h in healths) == 0
    with engine.connect() as conn:
        counted = conn.execute(
            sa.text(
                "SELECT topic, count(*) FROM booking_events WHERE topic LIKE '%ConfirmationExpired'"
                " OR topic LIKE '%FreeCancellationClosed' GROUP BY originator_id, topic"
            )
        ).all()
    assert len(counted) == 2 * BOOKINGS and {n for _, n in counted} == {1}  # each recorded once


def test_a_scheduler_silent_for_longer_than_the_window_is_no_longer_live(engine: sa.Engine) -> None:
    clock = ManualClock(MONDAY)
    first, second = Heartbeat(engine, clock, "host:1"), Heartbeat(engine, clock, "host:2")
    first.beat({})
    second.beat({})
    assert first.live(WINDOW) == second.live(WINDOW) == {"host:1", "host:2"}
    clock.advance(WINDOW)
    assert first.live(WINDOW) == {"host:1", "host:2"}  # just inside
    clock.advance(timedelta(milliseconds=1))
    first.beat({})
    assert first.live(WINDOW) == {"host:1"}  # the second stopped beating: its share moves
    assert second.live(WINDOW) == {"host:1", "host:2"}  # a scheduler always counts itself
    second.beat({})
    assert first.live(WINDOW) == {"host:1", "host:2"}  # beating again: live again

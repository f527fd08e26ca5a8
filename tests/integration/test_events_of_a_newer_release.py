"""An older process meets an event a newer release wrote (a topic it cannot resolve), as it does
while an upgrade rolls: it must move past it and keep working, never stall or crash-loop.

A real row of an unknown topic, sealed into its stream's chain like any event, sits between
events this release knows, in a real store (SQLite and PostgreSQL). The projector's views only
decode the topics they handle, so they pass it (following the head and replaying from zero);
the scheduler reads its deadlines from the view; the feed and the webhook deliverer publish
only the types they know and move past the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from commands.clock import ManualClock, SystemClock
from commands.service import BookingService
from commands.webhooks import WebhookCommands
from feed.reader import EventFeed
from migrations.prepare import prepare_database
from projections.database import create_read_engine
from projections.queries import ReadModels
from projections.runner import ProjectionsRunner
from tests.future_events import record_future_event
from tests.integration.support import head
from tests.integration.webhooks.support import delivering, register
from tests.polling import wait_until
from tests.receiver import receiver
from webhooks.delivery import Deliverer, DeliverySettings
from webhooks.store import WebhookStore

MEMBER, PROVIDER = "maya", "dr-okafor"
WEEKDAYS = {
    "timezone": "Europe/London",
    "weekly": [{"weekday": d, "start": "09:00", "end": "17:00"} for d in ("monday", "tuesday", "friday")],
}
FRIDAY_10 = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)


class Stateless:
    position = 0


@pytest.fixture
def read_models(database_url: str, clock: ManualClock) -> Iterator[ReadModels]:
    engine = create_read_engine(database_url)
    try:
        yield ReadModels(engine, clock)
    finally:
        engine.dispose()


def test_views_and_the_schedulers_read_move_past_an_event_of_a_newer_release(
    database_url: str, service: BookingService, read_models: ReadModels
) -> None:
    room = service.open_room(MEMBER, PROVIDER, actor="system:test")["room_id"]
    service.publish_availability(PROVIDER, WEEKDAYS, actor=f"provider:{PROVIDER}")
    service.add_credits(MEMBER, "purchase", 1, "order-1", actor=f"member:{MEMBER}")
    runner = ProjectionsRunner(database_url)
    try:
        runner.catch_up()  # following the head from here on
        booking = service.reserve_session(room, FRIDAY_10, 45, "video", actor=f"member:{MEMBER}")
        _, future = record_future_event(service.recorder)
        service.add_credits(MEMBER, "purchase", 2, "order-2", actor=f"member:{MEMBER}")
        assert head(service) > future
        runner.catch_up()
        assert runner.stalled == {}
        assert set(runner.positions().values()) == {head(service)}
    finally:
        runner.close()
    assert read_models.stalls() == {}
    assert {d.booking_id for d in read_models.pending_deadlines()} == {booking["booking_id"]}
    balances = read_models.credit_balances(MEMBER)  # with the credits added after the unknown event
    assert balances is not None and (balances["available"], balances["held"]) == (2, 1)

    replaying = ProjectionsRunner(database_url, prefix="scratch_")  # the same from position 0
    try:
        replaying.catch_up(stop_at=head(service))
        assert replaying.stalled == {}
    finally:
        replaying.close()


def test_the_feed_and_the_deliverer_move_past_an_event_of_a_newer_release(database_url: str) -> None:
    prepare_database(database_url)  # the webhook store's tables are the migrations'
    service = BookingService.open(database_url, SystemClock())
    engine = create_read_engine(database_url)
    try:
        store = WebhookStore(engine)
        commands = WebhookCommands(service, store)
        with receiver() as hook:
            endpoint, hook.secret = register(commands, hook.url, ["CreditsAdded"])
            service.add_credits(MEMBER, "purchase", 1, "before", actor=f"member:{MEMBER}")
            _, future = record_future_event(service.recorder)
            service.add_credits(MEMBER, "purchase", 1, "after", actor=f"member:{MEMBER}")
            last = head(service)

            page = EventFeed(service.recorder, service.mapper).page(0, 100)
            assert page.next_after == last
            assert [e["type"] for e in page.events][-2:] == ["CreditsAdded", "CreditsAdded"]

            settings = DeliverySettings(poll_interval=0.05, refresh_interval=0.05)
            with delivering(Deliverer(service, store, SystemClock(), settings)) as deliverer:
                hook.wait_for(lambda h: h.accepted_count() == 2, timeout=60)
                # successes are committed in groups, so the position follows a moment later
                wait_until(lambda: (store.state(endpoint) or Stateless).position > future, 60, "the position")
                assert all(worker.is_alive() for worker in deliverer.workers.values())
            references = [r.event["data"]["reference"] for r in hook.accepted()]
            assert references == ["before", "after"]
            assert all(r.verified for r in hook.received)
    finally:
        engine.dispose()
        service.close()

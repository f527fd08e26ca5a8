"""One dead endpoint never delays another; a day of failures marks an endpoint failing (an event),
and a replay resumes it where it stopped."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from commands.clock import ManualClock, SystemClock
from commands.service import BookingService
from commands.webhooks import WebhookCommands
from domain.webhooks import FAILING
from tests.integration.webhooks.support import delivering, register
from tests.receiver import Receiver, closed_port_url, receiver
from webhooks.delivery import Deliverer, DeliverySettings, RetryPolicy
from webhooks.store import WebhookStore


def accepted_at_least(hook: Receiver, count: int) -> bool:
    return hook.accepted_count() >= count


POLL = 0.1


@pytest.mark.slow
def test_a_refused_and_a_hanging_endpoint_do_not_delay_a_healthy_one(
    system_service: BookingService, store: WebhookStore, commands: WebhookCommands
) -> None:
    settings = DeliverySettings(
        poll_interval=POLL, refresh_interval=POLL, timeout=10, retry=RetryPolicy(0.05, 0.2)
    )
    with receiver() as healthy, receiver() as hanging:
        hanging.hang = threading.Event()  # holds every request open for 10 s
        register(commands, closed_port_url(), ["CreditsAdded"])
        register(commands, hanging.url, ["CreditsAdded"])
        healthy.secret = register(commands, healthy.url, ["CreditsAdded"])[1]
        with delivering(Deliverer(system_service, store, SystemClock(), settings)):
            system_service.add_credits("maya", "purchase", 1, "warm-up")  # workers start, dead ones stall
            healthy.wait_for(lambda h: h.accepted_count() == 1, timeout=30)
            latencies = []
            for number in range(1, 9):
                system_service.add_credits("maya", "purchase", 1, f"order-{number}")
                committed = time.perf_counter()
                healthy.wait_for(partial(accepted_at_least, count=number + 1), timeout=30)
                latencies.append(healthy.accepted()[-1].at - committed)
            assert hanging.arrivals >= 1 and not hanging.received, "the hanging one was waited on meanwhile"
            # Had the healthy endpoint waited its turn behind the hanging one, a delivery would
            # take the whole 10 s hold (the request timeout); typically it takes a poll, which
            # bench.webhooks measures. The bound is that hold, not a latency target.
            assert max(latencies) < settings.timeout, latencies
            assert all(r.verified for r in healthy.received)


def test_an_endpoint_failing_for_a_day_is_marked_failing_and_a_replay_resumes_it(
    system_service: BookingService, store: WebhookStore, commands: WebhookCommands
) -> None:
    clock = ManualClock(datetime.now(UTC))
    settings = DeliverySettings(
        poll_interval=0.02, refresh_interval=0.05, timeout=5, retry=RetryPolicy(base=60, cap=3 * 3600)
    )
    with receiver() as hook:
        hook.answer = lambda n: 503
        # not verified here: this deliverer's clock runs a day ahead, past a receiver's 5-minute
        # tolerance for webhook-timestamp (signatures are verified in the other tests)
        endpoint_id, _ = register(commands, hook.url, ["CreditsAdded"])
        system_service.add_credits("maya", "purchase", 1, "order-1")
        deliverer = Deliverer(system_service, store, clock, settings)
        with delivering(deliverer):
            pauses = []
            deadline = time.monotonic() + 30
            while commands.registry().endpoints[endpoint_id]["status"] != FAILING:
                assert time.monotonic() < deadline, "the endpoint was never marked failing"
                state = store.state(endpoint_id)
                if (
                    state is not None
                    and state.next_attempt_at is not None
                    and state.next_attempt_at > clock.now()
                ):
                    pauses.append(state.next_attempt_at - clock.now())
                    clock.set(state.next_attempt_at)
                time.sleep(0.01)
            failing = commands.registry().endpoints[endpoint_id]
            assert clock.now() - failing["failing_since"] >= timedelta(days=1), "retried for at least a day"
            assert len(hook.received) >= 10 and len({r.webhook_id for r in hook.received}) == 1
            assert max(pauses) <= timedelta(hours=3) and pauses[1] > pauses[0], "exponential, capped"
            names = [
                n.topic.rsplit(".", 1)[-1]
                for n in system_service.recorder.select_notifications(start=1, limit=10_000)
            ]
            assert names.count("WebhookEndpointMarkedFailing") == 1

            sent = len(hook.received)
            time.sleep(0.3)
            assert len(hook.received) == sent, "a failing endpoint gets nothing until replayed"
            hook.answer = lambda n: 200
            commands.replay_webhook(endpoint_id, None, actor="operator:ops")
            hook.wait_for(lambda h: h.accepted_count() == 1, timeout=10)
        assert commands.registry().endpoints[endpoint_id]["status"] == "active"

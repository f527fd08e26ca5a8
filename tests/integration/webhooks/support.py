"""Shared set-up for the delivery tests: a service, the webhook store, and many events fast."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from commands.service import BookingService
from commands.webhooks import WebhookCommands
from domain.actors import Actor
from domain.credits import CreditAccount
from feed.reader import EventFeed, FeedFilter
from webhooks.delivery import Deliverer

OPERATOR = "operator:ops"


def record_credits_added(service: BookingService, member_id: str, count: int, now: datetime) -> None:
    """``count`` CreditsAdded events, saved in a few large transactions (real domain events)."""
    account = CreditAccount.open(member_id, now)
    for number in range(count):
        account.add("purchase", 1, f"order-{number}", Actor("system", "test"), now)
        if (number + 1) % 500 == 0:
            service.save(account)
    service.save(account)


def published_ids(service: BookingService, types: list[str] | None = None) -> list[str]:
    feed = EventFeed(service.recorder, service.mapper)
    ids: list[str] = []
    after = 0
    while True:
        page = feed.page(after, 1000, FeedFilter.of(types))
        ids += [e["id"] for e in page.events]
        if page.next_after == after:
            return ids
        after = page.next_after


def register(commands: WebhookCommands, url: str, types: list[str] | None = None) -> tuple[str, str]:
    outcome = commands.register_webhook(url, types, actor=OPERATOR)
    secret = commands.secret_for(outcome)
    assert secret is not None
    return str(outcome["id"]), secret


@contextmanager
def delivering(deliverer: Deliverer) -> Iterator[Deliverer]:
    stop = threading.Event()
    thread = threading.Thread(target=deliverer.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        yield deliverer
    finally:
        stop.set()
        thread.join(timeout=30)

"""The deliverer's health signal (``booking deliver --alive-file``, compose's health check):
it is given after each round that read the endpoint registry, again and again while it runs."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

from commands.clock import SystemClock
from commands.service import BookingService
from tests.polling import wait_until
from webhooks.delivery import Deliverer, DeliverySettings
from webhooks.store import WebhookStore


def test_the_deliverer_signals_alive_after_every_round(
    system_service: BookingService, store: WebhookStore, tmp_path: Path
) -> None:
    alive_file = tmp_path / "alive"
    rounds = itertools.count(1)
    seen: list[int] = []

    def alive() -> None:
        alive_file.touch()
        seen.append(next(rounds))

    deliverer = Deliverer(system_service, store, SystemClock(), DeliverySettings(refresh_interval=0.05))
    stop = threading.Event()
    thread = threading.Thread(target=deliverer.run_forever, args=(stop,), kwargs={"alive": alive})
    thread.start()
    try:
        wait_until(lambda: len(seen) >= 3, 30, "three rounds")
        assert alive_file.exists()
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()

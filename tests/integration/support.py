"""Helpers shared by the service-level tests: the store's head, refusals that write nothing,
and threads racing one command on several services."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from commands.service import BookingService
from domain.errors import BookingError


def head(service: BookingService) -> int:
    return service.recorder.max_notification_id() or 0


def refused(service: BookingService, code: str, command: Callable[[], Any]) -> BookingError:
    """Run a command that must be refused with ``code`` and must write nothing."""
    before = head(service)
    with pytest.raises(BookingError) as refusal:
        command()
    assert refusal.value.code == code, refusal.value.message
    assert head(service) == before
    return refusal.value


def race(services: list[BookingService], command: Callable[[BookingService, int], Any]) -> list[Any]:
    """Run ``command`` in one thread per service, all released together by a barrier; each
    result is the command's outcome, its refusal's code, or the unexpected error it raised."""
    barrier = threading.Barrier(len(services))
    results: list[Any] = [None] * len(services)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = command(services[index], index)
        except BookingError as refusal:
            results[index] = refusal.code
        except Exception as error:  # surfaced by the callers' assertions
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(services))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results

"""The one way tests wait: poll a condition with a deadline, never sleep a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], timeout: float = 30.0, what: str = "the condition", interval: float = 0.01
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something truthy, and return
    that; fail the test with ``what`` if ``timeout`` seconds pass first. The default deadline is
    generous: a passing wait returns as soon as the condition holds, and a machine busy with
    another suite must not turn a slow arrival into a failure (speed is ``bench/``'s business)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)

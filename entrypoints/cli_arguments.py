"""What the long-running commands share: their argument types and their stop on a signal."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from types import FrameType

log = logging.getLogger("booking")


def stop_on(stop: threading.Event, *signals: signal.Signals) -> None:
    def request_stop(number: int, frame: FrameType | None) -> None:
        log.info("stopping on %s", signal.Signals(number).name)
        stop.set()

    for number in signals:
        signal.signal(number, request_stop)


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds; got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds; got {text!r}")
    return value


def at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1; got {text!r}")
    return value

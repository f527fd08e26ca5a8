"""Counts of the commands a service object executed: by name and outcome, plus the version
conflicts met at save and the attempts taken again. Plain counters under a lock (no I/O), so
the command path pays about a microsecond per command; ``entrypoints.metrics`` reads them when
scraped."""

from __future__ import annotations

import threading
from collections import Counter

ACCEPTED = "accepted"
REPLAYED = "replayed"  # a known command id answered with its recorded outcome
REFUSED = "refused"  # a BookingError: labelled with its code
CONFLICT = "conflict"  # retries exhausted on concurrent changes (concurrency_conflict)
FAILED = "failed"  # anything else, e.g. the database could not be reached


class CommandCounts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcomes: Counter[tuple[str, str, str]] = Counter()
        self._conflicts: Counter[str] = Counter()
        self._retries: Counter[str] = Counter()

    def outcome(self, command: str, outcome: str, code: str = "") -> None:
        with self._lock:
            self._outcomes[(command, outcome, code)] += 1

    def version_conflict(self, command: str) -> None:
        with self._lock:
            self._conflicts[command] += 1

    def retry(self, command: str) -> None:
        with self._lock:
            self._retries[command] += 1

    def snapshot(self) -> tuple[dict[tuple[str, str, str], int], dict[str, int], dict[str, int]]:
        """Copies of (outcomes by command, outcome and code; version conflicts; retries)."""
        with self._lock:
            return dict(self._outcomes), dict(self._conflicts), dict(self._retries)

"""DeadlineBook: the scheduler's in-memory copy of the pending deadlines, ordered by due instant.

It is a cache of the pending-deadlines view, never a source of truth: it is rebuilt from the
view on every start and reconciled with it while running, and it never writes anywhere.
A deadline is identified by ``(booking_id, kind, due)``, so a rescheduled deadline is a new
entry and the old one disappears when the view stops listing it. Every method is safe to
call from several threads.

When several scheduler processes share the work, ``take_due`` is told which bookings are this
process's (``mine``): a due deadline of another's share is *parked* rather than handed out.
It stays in the book, so when the share changes (a scheduler stopped beating), ``unpark``
makes it due again at once, without waiting for the view to be read again.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

Key = tuple[str, str, datetime]


class Deadline(Protocol):
    """The shape of ``projections.deadlines.PendingDeadline`` that the scheduler relies on."""

    @property
    def booking_id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def due(self) -> datetime: ...


def key_of(deadline: Deadline) -> Key:
    return (deadline.booking_id, deadline.kind, deadline.due)


class DeadlineBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Key, Deadline] = {}
        self._when: dict[Key, datetime] = {}  # when the entry may next be handed out (due or retry)
        self._heap: list[tuple[datetime, Key]] = []  # lazily cleaned: stale items are skipped
        self._in_flight: set[Key] = set()
        self._settled: set[Key] = set()  # fired, but perhaps still listed by a lagging view
        self._parked: set[Key] = set()  # due, but another scheduler's share (out of the heap)

    def reconcile(self, listed: Iterable[Deadline], until: datetime | None = None) -> tuple[int, int]:
        """Make the book agree with the view's listing of every deadline due before ``until``.

        ``until=None`` means the listing is complete. Returns (added, removed).
        """
        fresh = {key_of(d): d for d in listed}
        added = removed = 0
        with self._lock:
            for key in [k for k in self._entries if until is None or k[2] < until]:
                if key not in fresh and key not in self._in_flight:
                    self._forget(key)
                    removed += 1
            self._settled = {k for k in self._settled if k in fresh or (until is not None and k[2] >= until)}
            for key, deadline in fresh.items():
                if key not in self._entries and key not in self._settled:
                    self._entries[key] = deadline
                    self._schedule(key, deadline.due)
                    added += 1
            if len(self._heap) > 2 * len(self._entries) + 1024:
                self._heap = [(self._when[k], k) for k in self._entries if k not in self._parked]
                heapq.heapify(self._heap)
        return added, removed

    def take_due(self, now: datetime, mine: Callable[[str], bool] | None = None) -> list[Deadline]:
        """Hand out every deadline due at ``now`` that is not already being fired, at most one
        per booking at a time, earliest first; with ``mine``, only those of the bookings it
        accepts (the others are parked until ``unpark``).

        A booking's deadlines must be recorded in due order: once a confirmation expiry is
        recorded, the free-cancellation close due before it is no longer current and would never
        be recorded. So a booking's later deadline waits while an earlier one is in flight."""
        taken: list[Deadline] = []
        waiting: list[tuple[datetime, Key]] = []
        with self._lock:
            busy = {key[0] for key in self._in_flight}
            while self._heap and self._heap[0][0] <= now:
                when, key = heapq.heappop(self._heap)
                if self._when.get(key) != when or key in self._in_flight:
                    continue
                if mine is not None and not mine(key[0]):
                    self._parked.add(key)
                    continue
                if key[0] in busy:
                    waiting.append((when, key))
                    continue
                busy.add(key[0])
                self._in_flight.add(key)
                taken.append(self._entries[key])
            for item in waiting:
                heapq.heappush(self._heap, item)
        return taken

    def unpark(self) -> int:
        """Make every parked deadline due again (the share changed); returns how many."""
        with self._lock:
            parked, self._parked = self._parked, set()
            for key in parked:
                if key in self._entries:
                    heapq.heappush(self._heap, (self._when[key], key))
        return len(parked)

    def settle(self, deadline: Deadline) -> None:
        """The deadline was decided (recorded or found stale): never hand it out again."""
        key = key_of(deadline)
        with self._lock:
            self._in_flight.discard(key)
            self._forget(key)
            self._settled.add(key)

    def retry(self, deadline: Deadline, at: datetime) -> None:
        """Firing failed: hand the deadline out again at ``at``."""
        key = key_of(deadline)
        with self._lock:
            self._in_flight.discard(key)
            if key in self._entries:
                self._schedule(key, at)

    def oldest(self) -> Deadline | None:
        """The pending deadline with the earliest due instant."""
        with self._lock:
            if not self._entries:
                return None
            return min(self._entries.values(), key=lambda d: d.due)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "pending": len(self._entries),
                "in_flight": len(self._in_flight),
                "not_ours": len(self._parked),
            }

    def _schedule(self, key: Key, when: datetime) -> None:
        self._when[key] = when
        heapq.heappush(self._heap, (when, key))

    def _forget(self, key: Key) -> None:
        self._entries.pop(key, None)
        self._when.pop(key, None)
        self._parked.discard(key)

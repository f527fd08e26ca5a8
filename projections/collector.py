"""collecting_rarely: the cyclic garbage collector runs rarely while a rebuild replays the log.

A rebuild allocates containers by the million (rows read, events decoded, rows to copy) and
frees nearly all of them by reference counting alone. With CPython's default thresholds the
collector still ran every 700 net allocations, and every hundredth run was a full pass over
every live object, the batch in hand included: a quarter of a rebuild's CPU at 100,000 events
(``bench.projections``). Raising the first threshold makes those runs rare; cycles are still
collected, only later. The thresholds are process-wide, so nested or concurrent users share
one raise, restored when the last one leaves.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

REBUILD_THRESHOLDS = (50_000, 20, 20)

_lock = threading.Lock()
_users = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def collecting_rarely() -> Iterator[None]:
    """Raise the collector's thresholds to ``REBUILD_THRESHOLDS`` inside the block."""
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(*REBUILD_THRESHOLDS)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                _saved = None

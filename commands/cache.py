"""The service's cache of aggregates as last committed, and private copies for commands.

A cached aggregate may be stale (another process may have saved its stream since), so the
service uses it only where a stale copy is caught before it can do harm: for a command's
aggregates that the command saves (the store's version check refuses a stale base, and the
service evicts and reloads), and never to refuse a command or to answer a query without first
reading the events recorded after it. Copies are cheap because aggregates change their state
containers at most one level deep: a command's private copy copies each top-level list, dict
or set once (never the elements), so the cached original is never touched.
"""

from __future__ import annotations

from collections import OrderedDict
from functools import cache
from threading import Lock
from typing import TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

A = TypeVar("A", bound=Aggregate)
CONTAINERS = (list, dict, set)


def private_copy(aggregate: A) -> A:
    """A copy that a command may change without touching ``aggregate``: new top-level
    containers sharing their (never edited) elements, and no pending events."""
    copy = object.__new__(type(aggregate))
    state = {k: (v.copy() if type(v) in CONTAINERS else v) for k, v in vars(aggregate).items()}
    state["_pending_events"] = []
    object.__setattr__(copy, "__dict__", state)
    return copy


@cache
def is_immutable(cls: type[Aggregate]) -> bool:
    """An aggregate class with no event but its creation: a cached copy is never stale."""
    events = [
        v
        for k, v in vars(cls).items()
        if k != "Event" and isinstance(v, type) and issubclass(v, Aggregate.Event)  # "Event": the base
    ]
    return all(issubclass(e, Aggregate.Created) for e in events)


class AggregateCache:
    """At most ``maxsize`` aggregates as last committed (least recently used first out)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[UUID, Aggregate] = OrderedDict()
        self._lock = Lock()

    def get(self, ident: UUID) -> Aggregate | None:
        with self._lock:
            aggregate = self._items.get(ident)
            if aggregate is not None:
                self._items.move_to_end(ident)
            return aggregate

    def put(self, aggregate: Aggregate) -> None:
        """Keep ``aggregate`` (which nobody may change any more) unless a newer one is kept."""
        if self.maxsize <= 0:
            return
        with self._lock:
            current = self._items.get(aggregate.id)
            if current is not None and current.version > aggregate.version:
                return
            self._items[aggregate.id] = aggregate
            self._items.move_to_end(aggregate.id)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def evict(self, ident: UUID) -> None:
        with self._lock:
            self._items.pop(ident, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

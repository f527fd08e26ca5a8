"""EventFeed: pages through the store's notification log as public events, with filters.

It reads committed events only (the notification log is the outbox: nothing uncommitted is
visible, and on PostgreSQL the library's table lock makes ids visible in commit order, so
nothing below the head can appear later). Filters never hide a position: ``next_after``
moves past everything read, published or not, matching or not. One request reads at most
``scan_limit`` notifications, so a rare filter answers with fewer events and a further
``next_after`` rather than scanning the whole log. It never writes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification

from domain.errors import InvalidInput
from feed.public import PUBLIC_TYPES
from feed.render import PUBLISHED_TOPICS, STREAM_STARTS, Parties, parties_of, render

MAX_LIMIT = 1000
SCAN_LIMIT = 5000
READ_BATCH = 500
PARTIES_CACHE = 100_000


@dataclass(frozen=True)
class FeedFilter:
    """Which published events a reader wants: some types, and one party or booking."""

    types: frozenset[str] | None = None
    member_id: str | None = None
    provider_id: str | None = None
    booking_id: str | None = None

    @classmethod
    def of(
        cls,
        types: Collection[str] | None = None,
        member_id: str | None = None,
        provider_id: str | None = None,
        booking_id: str | None = None,
    ) -> FeedFilter:
        if types is not None:
            unknown = sorted(set(types) - set(PUBLIC_TYPES))
            if unknown:
                raise InvalidInput(
                    f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(PUBLIC_TYPES)}"
                )
        if sum(x is not None for x in (member_id, provider_id, booking_id)) > 1:
            raise InvalidInput("filter by one of member, provider or booking, not several")
        return cls(frozenset(types) if types is not None else None, member_id, provider_id, booking_id)

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(
            t for t, name in PUBLISHED_TOPICS.items() if self.types is None or name in self.types
        )

    def by_party(self) -> bool:
        return any(x is not None for x in (self.member_id, self.provider_id, self.booking_id))

    def admits(self, parties: Parties) -> bool:
        if self.booking_id is not None:
            return parties.booking_id == self.booking_id
        if self.member_id is not None:
            return parties.member_id == self.member_id
        if self.provider_id is not None:
            return parties.provider_id == self.provider_id
        return True


@dataclass
class Page:
    events: list[dict[str, Any]] = field(default_factory=list)
    next_after: int = 0
    head: int = 0


class EventFeed:
    def __init__(
        self, recorder: ApplicationRecorder, mapper: Mapper[UUID], scan_limit: int = SCAN_LIMIT
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.scan_limit = scan_limit
        self._parties: OrderedDict[UUID, Parties] = OrderedDict()
        self._lock = threading.Lock()

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def page(self, after: int, limit: int, wanted: FeedFilter | None = None) -> Page:
        """Published events after ``after`` (oldest first, at most ``limit``) that ``wanted`` admits."""
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}; got {limit}")
        wanted = wanted or FeedFilter()
        topics = wanted.topics
        head = self.head()
        page = Page(next_after=after, head=head)
        scanned = 0
        while len(page.events) < limit and page.next_after < head and scanned < self.scan_limit:
            batch = min(READ_BATCH, self.scan_limit - scanned)
            rows = self.recorder.select_notifications(start=page.next_after + 1, limit=batch, stop=head)
            if not rows:
                page.next_after = head  # only ids of rolled-back inserts remained
                break
            for row in rows:
                page.next_after = row.id
                scanned += 1
                if row.topic not in topics:
                    continue
                parties = self._parties_of(row)
                if wanted.admits(parties):
                    page.events.append(render(row.id, self.mapper.to_domain_event(row), parties))
                    if len(page.events) == limit:
                        break
        return page

    def _parties_of(self, row: Notification) -> Parties:
        stream: UUID = row.originator_id  # type: ignore[assignment]
        with self._lock:
            known = self._parties.get(stream)
            if known is not None:
                self._parties.move_to_end(stream)
                return known
        first = row if row.originator_version == 1 else self._first_event(stream)
        parties = (
            parties_of(self.mapper.to_domain_event(first))
            if first is not None and first.topic in STREAM_STARTS
            else Parties()
        )
        with self._lock:
            self._parties[stream] = parties
            if len(self._parties) > PARTIES_CACHE:
                self._parties.popitem(last=False)
        return parties

    def _first_event(self, stream: UUID) -> Any:
        events = self.recorder.select_events(stream, lte=1, limit=1)
        return events[0] if events else None

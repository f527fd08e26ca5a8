"""View: the base of every projection — dispatch on event type, apply inside the tracking claim.

A ``View`` is the library's ``Projection`` over a ``ViewRecorder``. ``apply_batch`` writes
the rows for a run of notifications and the new tracking position in one transaction;
``process_event`` is the library's one-event form of the same. Within a batch, handlers
change rows held in ``RowBuffer``s (fresh for each batch), which are loaded up front and
written back once at the end. Handlers use only the event's data (never a clock, never
another view) and are deterministic, so a rebuild reproduces the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from projections.driver import batched
from projections.tracking import ViewRecorder
from projections.versions import fingerprint

Handler = Callable[[sa.Connection, Any], None]


class View(Projection[ViewRecorder]):
    name: str = ""
    revision: int = 1
    """Move it by one whenever the handlers change what they write for the same events (a change
    of the tables moves the schema version by itself): the view is then rebuilt blue/green."""
    bulk = False
    """True while the view is rebuilt into tables emptied together with its position: the rows
    its creation events make are new, so they may be bulk-inserted (see ``RowBuffer``)."""

    def __init__(self, view: ViewRecorder, tables: Sequence[sa.Table]) -> None:
        super().__init__(view=view)
        self.tables = tuple(tables)
        self.prefix = view.view_name.removesuffix(self.name)
        self.schema_version = fingerprint(self.revision, self.tables, self.prefix)
        self._handlers = self.handlers()
        self.handled_topics = frozenset(get_topic(cls) for cls in self._handlers)
        self._ids: dict[int, str] = {}  # id() of each event of the batch -> its aggregate's id

    def handlers(self) -> Mapping[type, Handler]:
        """The event classes this view applies, each with its handler."""
        raise NotImplementedError

    def apply(self, conn: sa.Connection, event: Any) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(conn, event)

    def apply_batch(self, expected: int, last: int, events: Sequence[Any]) -> None:
        """Apply ``events`` and move the position from ``expected`` to ``last`` atomically."""
        with self.view.claim(expected, last) as conn:
            self.write_batch(conn, events)

    def write_batch(self, conn: sa.Connection, events: Sequence[Any]) -> None:
        """Apply ``events`` on ``conn``, whose transaction has claimed the position."""
        self._ids = {id(event): str(event.originator_id) for event in events}
        self.start_batch()
        self.prefetch(conn, events)
        for event in events:
            self.apply(conn, event)
        if self.bulk:
            self.flush(conn)  # COPY, which a pipeline cannot carry
            return
        with batched(conn):
            self.flush(conn)

    def aggregate_id(self, event: Any) -> str:
        """The id of the aggregate ``event`` belongs to, as text: made once per event of a batch,
        since the prefetch and the handlers each need it and ``str`` of a UUID costs more than a
        handler's own work (a tenth of a rebuild's CPU when each made its own)."""
        return self._ids[id(event)]

    def created_in(self, events: Sequence[Any], creation: type[Any]) -> set[str]:
        """The ids of the aggregates that a ``creation`` event in ``events`` starts. An aggregate's
        first event is recorded once per id, so nothing of theirs can be stored before this batch:
        prefetching them would only read nothing."""
        return {self.aggregate_id(e) for e in events if isinstance(e, creation)}

    def start_batch(self) -> None:
        """Make fresh buffers for one transaction."""
        raise NotImplementedError

    def prefetch(self, conn: sa.Connection, events: Sequence[Any]) -> None:
        """Load the rows the batch will touch in a few statements (an optimisation only)."""

    def flush(self, conn: sa.Connection) -> None:
        """Write the buffered rows: ``driver.write`` only, never a read (it may run in a pipeline)."""
        raise NotImplementedError

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        expected = self.view.position()
        if expected >= tracking.notification_id:
            return  # already applied
        self.apply_batch(expected, tracking.notification_id, [domain_event])

    def clear(self, conn: sa.Connection) -> None:
        """Delete every row of the view and set its position to 0 (start of a rebuild)."""
        self.view.reset(conn)  # first, so a concurrent runner and this wait on the same row lock
        for table in reversed(self.tables):
            conn.execute(sa.delete(table))

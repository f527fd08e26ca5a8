"""Reading the stored event log for the audit: paged, decoded, rendered as plain JSON values.

Pure reads through the library's recorder; never writes, never consults the read models.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification, StoredEvent

from commands.chain import unseal
from domain.time import iso

PAGE = 2000
HIDDEN = ("originator_id", "originator_version", "originator_topic", "timestamp", "actor", "_chain")


def read_log(
    recorder: ApplicationRecorder, page: int = PAGE, after: int = 0, stop: int | None = None
) -> Iterator[Notification]:
    """Every stored event in notification order, read ``page`` rows at a time."""
    position = after
    while True:
        rows = recorder.select_notifications(position, page, stop=stop, inclusive_of_start=False)
        if not rows:
            return
        yield from rows
        position = rows[-1].id
        if len(rows) < page:
            return


def decode(mapper: Mapper[UUID], stored: StoredEvent) -> Any:
    """The domain event of a stored event, chain link removed, without the mapper's caches."""
    state = unseal(stored.state).state
    plain = StoredEvent(stored.originator_id, stored.originator_version, stored.topic, state)
    return Mapper.to_domain_event(mapper, plain)


def event_type(event: Any) -> str:
    return type(event).__qualname__.split(".")[-1]


def plain(value: Any) -> Any:
    """A JSON-ready copy: instants as ISO 8601 UTC, UUIDs as strings."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def event_data(event: Any) -> dict[str, Any]:
    """The event's own fields (not its stream id, version, instant or actor)."""
    return {k: plain(v) for k, v in vars(event).items() if k not in HIDDEN}

"""An event of a release newer than this code: a stored row whose topic no class here resolves.

During a rolling upgrade the new processes write events of types the old ones do not know.
``record_future_event`` writes such a row through the library's own recorder, sealed into
the stream's hash chain like any event, so tests can check what today's processes do on it.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import StoredEvent

from commands.chain import link, seal

FUTURE_TOPIC = "domain.future_release:Waitlist.MemberWaitlisted"
"""A topic of no module or class of this release."""


def record_future_event(recorder: Any, originator_id: UUID | None = None) -> tuple[UUID, int]:
    """Record one event of ``FUTURE_TOPIC`` as version 1 of a new stream (``originator_id``, or
    a new id); return the stream's id and the event's position in the log."""
    stream = originator_id or uuid4()
    state = json.dumps(
        {"timestamp": {"_type_": "datetime_iso", "_data_": "2026-03-01T09:00:00+00:00"}, "member_id": "m"},
        separators=(",", ":"),
    ).encode()
    sealed = seal(state, link("", stream, 1, FUTURE_TOPIC, state))
    recorder.insert_events([StoredEvent(stream, 1, FUTURE_TOPIC, sealed)])
    return stream, int(recorder.max_notification_id())

"""Events as old releases stored them (``data/old_events/<release>.json``), for the tests that
read them with today's code. Each file holds the stored rows exactly as that release's own
code wrote them (its hash-chain links included), recorded once from a checkout of the release."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import StoredEvent

DATA = Path(__file__).parent / "data" / "old_events"
RELEASES = ("e7ed297", "3f2ef9d")
"""The first release, and the release before reminders (the one after policy numbers were added)."""


@dataclass(frozen=True)
class OldRelease:
    release: str
    now: datetime
    """The recording's last instant (its clock's ``now`` when it stopped)."""
    tight_booking: str
    """A confirmed 10-minute booking reserved with ``no_show_grace`` PT0S."""
    events: list[StoredEvent]


def old_release(release: str) -> OldRelease:
    doc = json.loads((DATA / f"{release}.json").read_text())
    events = [
        StoredEvent(
            UUID(row["originator_id"]), row["originator_version"], row["topic"], row["state"].encode()
        )
        for row in doc["events"]
    ]
    return OldRelease(release, datetime.fromisoformat(doc["now"]), doc["tight_booking"], events)

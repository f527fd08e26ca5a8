"""Events as old releases stored them (``stored/old_events/<release>.json``), for the tests that
read them with today's code. Each file holds the stored rows exactly as that release's own
code wrote them (its hash-chain links included), recorded once from a checkout of the release."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from commands.chain import link, seal
from domain.credits import CreditAccount

DATA = Path(__file__).parent / "stored" / "old_events"
ANA, ANA_ACTOR = "ana", "member:ana"
SNAPSHOT_AT = 50  # the service's snapshot interval for credit accounts
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


def first_release_account(references: int) -> tuple[list[StoredEvent], StoredEvent]:
    """Ana's account as the first release stored it: opened, then one credit per reference, each
    ``CreditsAdded`` without ``reference_recorded`` and with no CreditReference beside it; and
    that release's snapshot at version 50, which kept every credit in ``credits``."""
    ident = CreditAccount.id_for(ANA)
    at = {"_type_": "datetime_iso", "_data_": "2026-03-02T08:00:00+00:00"}
    states: list[tuple[str, dict[str, Any]]] = [
        (
            get_topic(CreditAccount.AccountOpened),
            {"timestamp": at, "originator_topic": get_topic(CreditAccount), "member_id": ANA},
        )
    ]
    states += [
        (
            get_topic(CreditAccount.CreditsAdded),
            {
                "timestamp": at,
                "source": "purchase",
                "count": 1,
                "reference": f"pay-{n}",
                "actor": ANA_ACTOR,
            },
        )
        for n in range(references)
    ]
    events, previous = [], ""
    for version, (topic, state) in enumerate(states, start=1):
        body = json.dumps(state, separators=(",", ":")).encode()
        previous = link(previous, ident, version, topic, body)
        events.append(StoredEvent(ident, version, topic, seal(body, previous)))
    credits = {
        f"c{n}": {"source": "purchase", "status": "available", "booking_id": None}
        for n in range(1, SNAPSHOT_AT)
    }
    snapshot_state = {
        "timestamp": at,
        "topic": get_topic(CreditAccount),
        "state": {"_created_on": at, "_modified_on": at, "member_id": ANA, "credits": credits},
    }
    snapshot = StoredEvent(
        ident, SNAPSHOT_AT, "eventsourcing.domain:Snapshot", json.dumps(snapshot_state).encode()
    )
    return events, snapshot

"""The public event shapes are a contract: pinned, complete, and independent of internal changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

from eventsourcing.domain import Aggregate

from domain.booking import Booking
from feed.public import PUBLIC_TYPES, EventPage, validate_event
from feed.render import PUBLISHED_TOPICS, Parties, event_id, render

PINNED = Path(__file__).parents[3] / "docs" / "events-schema-v1.json"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_the_published_schema_is_exactly_the_pinned_version_1() -> None:
    """Changing a public shape must be deliberate: a new version, never an edit of version 1."""
    current = json.loads(json.dumps(EventPage.model_json_schema()))
    assert current == json.loads(PINNED.read_text()), (
        "the public event schema changed; publish a new version instead of editing version 1"
    )


def test_every_booking_event_is_published() -> None:
    booking_events = {
        name
        for name, value in vars(Booking).items()
        if isinstance(value, type) and issubclass(value, Aggregate.Event) and name not in ("Created", "Event")
    }
    published = set(PUBLISHED_TOPICS.values())
    assert booking_events <= published, f"not published yet: {sorted(booking_events - published)}"
    assert published <= set(PUBLIC_TYPES)


def declined(**extra: object) -> Booking.ProviderDeclined:
    event = Booking.ProviderDeclined(  # type: ignore[call-arg]
        originator_id=uuid4(), originator_version=3, timestamp=NOW, reason="ill", actor="provider:p"
    )
    for name, value in extra.items():
        object.__setattr__(event, name, value)
    return event


def test_an_internal_field_added_later_never_reaches_the_public_shape() -> None:
    parties = Parties("b", "m", "p", "r")
    plain = declined()
    richer = declined(category="illness", class_version=2)
    object.__setattr__(richer, "originator_id", plain.originator_id)

    assert render(7, richer, parties) == render(7, plain, parties)
    assert render(7, plain, parties)["data"] == {"reason": "ill"}
    validate_event(render(7, plain, parties))


def test_an_event_keeps_its_id_across_reads_and_is_unique_per_stream_version() -> None:
    stream = uuid4()
    assert event_id(stream, 1) == event_id(str(stream), 1)
    assert event_id(stream, 1) != event_id(stream, 2)

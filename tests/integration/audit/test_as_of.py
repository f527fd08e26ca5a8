"""State as of a version or an instant is the state replayed to that point."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from audit.asof import booking_as_of, booking_state, ledger_as_of
from commands.service import BookingService
from domain.booking import Booking
from domain.errors import InvalidInput, NotFound
from domain.time import iso
from tests.integration.audit.story import MEMBER, Story


def test_as_of_each_version_equals_the_booking_loaded_at_that_version(
    service: BookingService, story: Story
) -> None:
    latest = service.get_booking(story.booking_id).version
    assert latest == 7
    for version in range(1, latest + 1):
        expected = booking_state(service.get_booking(story.booking_id, version=version))
        got = booking_as_of(service, story.booking_id, version=version)
        assert got == {"as_of": version, **expected}


def test_as_of_each_event_instant_equals_the_state_after_that_instants_events(
    service: BookingService, story: Story
) -> None:
    events: list[Any] = list(service.events.get(service.get_booking(story.booking_id).id))
    for event in events:
        at_event = booking_as_of(service, story.booking_id, at=event.timestamp)
        last_at_instant = max(e.originator_version for e in events if e.timestamp <= event.timestamp)
        assert at_event["version"] == last_at_instant
        just_before = event.timestamp - timedelta(microseconds=1)
        earlier = [e.originator_version for e in events if e.timestamp < event.timestamp]
        if not earlier:
            with pytest.raises(NotFound):
                booking_as_of(service, story.booking_id, at=just_before)
        else:
            before = booking_as_of(service, story.booking_id, at=just_before)
            assert before == {
                "as_of": iso(just_before),
                **booking_state(replayed(service, story, max(earlier))),
            }


def replayed(service: BookingService, story: Story, version: int) -> Booking:
    return service.get_booking(story.booking_id, version=version)


def test_as_of_an_instant_between_events_shows_the_earlier_state(
    service: BookingService, story: Story
) -> None:
    between = story.instants["confirmed"] + timedelta(minutes=30)
    state = booking_as_of(service, story.booking_id, at=iso(between))
    assert (state["status"], state["version"], state["as_of"]) == ("confirmed", 2, iso(between))
    assert state["starts_at"] != iso(service.get_booking(story.booking_id).starts_at)


def test_the_ledger_as_of_the_late_cancel_shows_the_forfeit_and_later_the_restore(
    service: BookingService, story: Story
) -> None:
    at_cancel = ledger_as_of(service, MEMBER, at=story.instants["cancelled"])
    assert at_cancel["balance"] == {"available": 0, "held": 0, "consumed": 0, "forfeited": 1}
    assert [m["type"] for m in at_cancel["movements"]][-1] == "CreditForfeited"
    at_revoke = ledger_as_of(service, MEMBER, at=story.instants["revoked"])
    # the restored credit was held again at once by the second booking
    assert at_revoke["balance"] == {"available": 0, "held": 1, "consumed": 0, "forfeited": 0}
    assert [m["type"] for m in at_revoke["movements"]][-2:] == ["CreditRestored", "CreditHeld"]
    assert ledger_as_of(service, MEMBER)["balance"] == service.get_account(MEMBER).balance()


def test_as_of_needs_exactly_one_existing_version_or_an_instant_with_an_offset(
    service: BookingService, story: Story
) -> None:
    with pytest.raises(InvalidInput):
        booking_as_of(service, story.booking_id)
    with pytest.raises(InvalidInput):
        booking_as_of(service, story.booking_id, at=iso(story.instants["confirmed"]), version=2)
    with pytest.raises(InvalidInput, match="version 8 does not exist"):
        booking_as_of(service, story.booking_id, version=8)
    with pytest.raises(InvalidInput, match="no UTC offset"):
        booking_as_of(service, story.booking_id, at="2026-03-02T10:00:00")
    with pytest.raises(NotFound):
        ledger_as_of(service, "nobody")

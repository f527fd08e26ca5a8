"""A booking's history, read from the events alone, is the member's story exactly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from audit.history import booking_history, render_timeline
from commands.service import BookingService
from domain.errors import InvalidInput, NotFound
from domain.time import iso
from tests.integration.audit.story import FIRST_START, MOVED_START, Story


def test_the_timeline_of_the_members_story_is_exact(service: BookingService, story: Story) -> None:
    history = booking_history(service, story.booking_id)
    at = {k: iso(v) for k, v in story.instants.items()}
    rows = [(e["stream"], e["version"], e["type"], e["at"], e["actor"]) for e in history["events"]]
    assert rows == [
        ("booking", 1, "SessionReserved", at["reserved"], "member:maya"),
        ("credits", 3, "CreditHeld", at["reserved"], "member:maya"),
        ("booking", 2, "ProviderConfirmed", at["confirmed"], "provider:dr-okafor"),
        ("booking", 3, "Rescheduled", at["rescheduled"], "member:maya"),
        ("credits", 4, "CreditHoldMoved", at["rescheduled"], "member:maya"),
        ("booking", 4, "ProviderConfirmed", at["reconfirmed"], "provider:dr-okafor"),
        ("booking", 5, "Cancelled", at["cancelled"], "member:maya"),
        ("booking", 6, "CreditForfeited", at["cancelled"], "member:maya"),
        ("credits", 5, "CreditForfeited", at["cancelled"], "member:maya"),
        ("booking", 7, "ForfeitRevoked", at["revoked"], "operator:olga"),
        ("credits", 6, "CreditRestored", at["revoked"], "operator:olga"),
    ]
    assert {e["policy_version"] for e in history["events"]} == {service.policy.version}
    events = history["events"]
    assert events[0]["data"]["starts_at"] == iso(FIRST_START)
    assert events[3]["data"]["previous_starts_at"] == iso(FIRST_START)
    assert events[3]["data"]["starts_at"] == iso(MOVED_START)
    assert events[4]["data"]["confirm_by"] == iso(MOVED_START - timedelta(hours=24))
    assert events[6]["data"] == {"by": "member", "free": False, "reason": "work trip"}
    assert events[9]["data"] == {"credit_id": "c1", "reason": "train strike"}
    assert all(e["data"].get("booking_id", story.booking_id) == story.booking_id for e in events)
    forfeits = [(e["stream"], e["aggregate"]) for e in events if e["type"] == "CreditForfeited"]
    assert forfeits == [("booking", "Booking"), ("credits", "CreditAccount")]  # the two read apart


def test_the_timeline_shows_the_second_bookings_expiry_as_the_schedulers_doing(
    service: BookingService, story: Story
) -> None:
    history = booking_history(service, story.second_booking_id)
    assert [(e["type"], e["actor"]) for e in history["events"]] == [
        ("SessionReserved", "member:maya"),
        ("CreditHeld", "member:maya"),
        ("ConfirmationExpired", "system:scheduler"),
        ("CreditReleased", "system:scheduler"),
    ]
    text = render_timeline(history)
    assert "ConfirmationExpired" in text and "ledger CreditReleased" in text
    assert text.splitlines()[0].startswith(f"booking {story.second_booking_id}")


def test_history_of_an_unknown_or_malformed_booking_is_refused(service: BookingService, story: Story) -> None:
    with pytest.raises(NotFound):
        booking_history(service, story.room_id)  # a room, not a booking
    with pytest.raises(InvalidInput):
        booking_history(service, "not-a-uuid")

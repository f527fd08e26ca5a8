"""What old releases stored decodes to today's events and keeps its meaning.

The rows in ``stored/old_events`` were written by the releases themselves; here they are read
with today's mapper (upcasters included) and used by today's commands.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.utils import resolve_topic

from commands.clock import ManualClock
from commands.service import BookingService
from domain.booking import Booking
from domain.credits import CreditAccount
from domain.errors import ReferenceConflict
from domain.lifecycle import NO_SHOW_ACTION, why_not
from domain.policy import Policy
from feed.public import DATA_MODELS, validate_event
from feed.render import Parties, public_type, render
from tests.unit.domain.old_events import RELEASES, OldRelease, old_release

MAYA = "member:maya"


@pytest.fixture(params=RELEASES)
def old(request: pytest.FixtureRequest) -> OldRelease:
    return old_release(request.param)


@pytest.fixture
def service(old: OldRelease) -> Iterator[BookingService]:
    app = BookingService(ManualClock(old.now), Policy(), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.recorder.insert_events(old.events)
    yield app
    app.close()


def test_every_old_event_decodes_with_every_field_of_todays_class(old: OldRelease) -> None:
    app = BookingService(ManualClock(old.now), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        for stored in old.events:
            event: Any = app.mapper.to_domain_event(stored)
            assert type(event) is resolve_topic(stored.topic)
            missing = {f.name for f in dataclasses.fields(event)} - set(vars(event))
            assert not missing, f"{stored.topic} decodes without {missing}"
            if isinstance(event, Booking.SessionReserved):
                assert set(event.policy) == set(Policy().to_dict())
            if isinstance(event, CreditAccount.CreditsAdded):
                assert event.reference_recorded is False
    finally:
        app.close()


def test_an_old_booking_keeps_its_own_numbers_and_fills_the_missing_ones_with_its_release_behaviour(
    old: OldRelease, service: BookingService
) -> None:
    booking = service.get_booking(old.tight_booking)
    policy = booking.policy
    assert (policy.lengths, policy.no_show_grace) == ((10,), timedelta(0))
    if old.release == "e7ed297":  # recorded neither: the provider was reportable absent from the start
        assert (policy.provider_late_grace, policy.min_confirm_time) == (timedelta(0), timedelta(0))
    else:  # recorded: kept as recorded, never replaced by today's defaults
        assert (policy.provider_late_grace, policy.min_confirm_time) == (
            timedelta(minutes=5),
            timedelta(hours=1),
        )
    assert policy.reminder_lead == timedelta(0)  # no release before reminders ever reminded
    assert booking.reminder_due is None
    assert [kind for kind, _ in booking.pending_deadlines()] == ["free_cancellation", "session_end"]

    one_minute_in = booking.starts_at + timedelta(minutes=1)
    provider_absent = why_not(booking.timeline, NO_SHOW_ACTION, one_minute_in, "provider")
    assert (provider_absent is None) is (old.release == "e7ed297")
    assert service.review_policy(old.tight_booking)["allowed_actions"] == ["reschedule", "cancel"]


def test_an_old_booking_takes_a_new_command(old: OldRelease, service: BookingService) -> None:
    outcome = service.cancel_session(old.tight_booking, reason="moved abroad", actor="member:ben")
    assert outcome["status"] == "cancelled"
    assert service.get_account("ben").balance() == {"available": 2, "held": 0, "consumed": 0, "forfeited": 0}


def test_a_reference_an_old_release_recorded_adds_credits_once(
    old: OldRelease, service: BookingService
) -> None:
    before = service.get_account("maya").balance()
    head = service.recorder.max_notification_id()
    repeat = service.add_credits("maya", "purchase", 1, "order-1001", actor=MAYA)
    assert repeat["balance"] == before
    assert service.get_account("maya").balance() == before
    assert service.recorder.max_notification_id() == head
    with pytest.raises(ReferenceConflict):
        service.add_credits("maya", "purchase", 2, "order-1001", actor=MAYA)
    added = service.add_credits("maya", "purchase", 1, "order-2002", actor=MAYA)
    assert added["balance"]["available"] == before["available"] + 1
    assert service.add_credits("maya", "purchase", 1, "order-2002", actor=MAYA)["balance"] == added["balance"]


def test_an_old_event_publishes_the_public_shape_of_today(old: OldRelease) -> None:
    app = BookingService(ManualClock(old.now), env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        published = 0
        for position, stored in enumerate(old.events, start=1):
            event = app.mapper.to_domain_event(stored)
            name = public_type(event)
            if name is None:
                continue
            public = render(position, event, Parties(member_id="m", provider_id="p"))
            validate_event(public)
            assert set(public["data"]) == set(DATA_MODELS[name].model_fields)
            published += 1
        assert published >= 15
    finally:
        app.close()


def test_an_outcome_recorded_before_effective_at_existed_took_effect_when_recorded() -> None:
    from domain.booking import Booking

    for cls in (Booking.SessionCompleted, Booking.NoShowRecorded, Booking.CreditForfeited):
        state: dict[str, Any] = {"timestamp": "recorded-at"}
        cls.upcast_v1_v2(state)  # type: ignore[attr-defined]
        assert state["effective_at"] == "recorded-at"

"""A late cancel or reschedule is decided from the booking's ``free_until``, never from whether
the scheduler has recorded ``FreeCancellationClosed`` yet."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from domain.errors import ForfeitNotAcknowledged
from tests.unit.scheduler.support import SECOND, START, Office, running, settled

FREE_UNTIL = START - timedelta(hours=48)


def twin_bookings(office: Office) -> tuple[str, str]:
    """Two confirmed bookings alike; only the first has its free-cancellation close recorded."""
    recorded = office.book(confirm=True)
    unrecorded = office.book(start=START + timedelta(hours=1), confirm=True, listed=False)
    scheduler = office.scheduler()
    office.clock.set(FREE_UNTIL + timedelta(hours=1))
    with running(scheduler):
        settled(scheduler)
    assert "FreeCancellationClosed" in office.event_names(recorded)
    assert "FreeCancellationClosed" not in office.event_names(unrecorded)
    return recorded, unrecorded


@pytest.mark.parametrize("which", [0, 1], ids=["closed_recorded", "closed_not_recorded"])
def test_a_late_cancel_is_refused_without_acknowledgement_either_way(which: int) -> None:
    office = Office()
    booking_id = twin_bookings(office)[which]
    before = office.event_names(booking_id)
    member = office.member_of(booking_id)
    with pytest.raises(ForfeitNotAcknowledged):
        office.service.cancel_session(booking_id, actor=f"member:{member}")
    assert office.event_names(booking_id) == before


@pytest.mark.parametrize("which", [0, 1], ids=["closed_recorded", "closed_not_recorded"])
def test_a_late_cancel_forfeits_the_credit_either_way(which: int) -> None:
    office = Office()
    booking_id = twin_bookings(office)[which]
    member = office.member_of(booking_id)
    office.service.cancel_session(booking_id, accept_forfeit=True, actor=f"member:{member}")
    assert office.service.get_account(member).balance()["forfeited"] == 1


@pytest.mark.parametrize("which", [0, 1], ids=["closed_recorded", "closed_not_recorded"])
def test_a_late_reschedule_needs_acknowledgement_and_forfeits_either_way(which: int) -> None:
    office = Office()
    booking_id = twin_bookings(office)[which]
    member = office.member_of(booking_id)
    office.service.add_credits(member, "purchase", 1, f"order-{uuid.uuid4()}", actor=f"member:{member}")
    later = START + timedelta(days=3)
    with pytest.raises(ForfeitNotAcknowledged):
        office.service.reschedule_session(booking_id, later, actor=f"member:{member}")
    office.service.reschedule_session(booking_id, later, accept_forfeit=True, actor=f"member:{member}")
    assert office.service.get_account(member).balance()["forfeited"] == 1


def test_a_cancel_one_second_before_free_until_is_free_even_after_a_recorded_close_elsewhere() -> None:
    office = Office()
    early = office.book(start=START + timedelta(hours=2), confirm=True)
    office.book(confirm=True)  # its close falls due two hours earlier and is recorded
    scheduler = office.scheduler()
    office.clock.set(FREE_UNTIL + timedelta(hours=2) - SECOND)
    with running(scheduler):
        settled(scheduler)
    assert "FreeCancellationClosed" not in office.event_names(early)
    member = office.member_of(early)
    office.service.cancel_session(early, actor=f"member:{member}")
    assert office.service.get_account(member).balance()["available"] == 1

"""The audit over HTTP: a booking's history for auditors, and ``as_of`` on the state reads."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from audit.asof import booking_as_of, ledger_as_of
from audit.history import booking_history
from commands.service import BookingService
from domain.time import iso
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from projections.database import create_read_engine
from projections.queries import ReadModels
from tests.e2e.conftest import live_server
from tests.integration.audit.story import MEMBER, Story

AUDITOR, SERVICE = "auditor-token-0123456789abcdef", "service-token-0123456789abcdef"


@pytest.fixture
def http(service: BookingService, database_url: str) -> Iterator[httpx.Client]:
    """The real API on a free port, over the real database."""
    settings = Settings(database_url=database_url, api_tokens=((AUDITOR, "auditor"), (SERVICE, "service")))
    engine = create_read_engine(database_url)
    try:
        with (
            live_server(create_app(settings, service, ReadModels(engine))) as base_url,
            httpx.Client(base_url=base_url, timeout=30) as client,
        ):
            yield client
    finally:
        engine.dispose()


def as_(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_auditor_reads_a_bookings_history_and_a_service_token_may_not(
    http: httpx.Client, service: BookingService, story: Story
) -> None:
    answer = http.get(f"/bookings/{story.booking_id}/history", headers=as_(AUDITOR))
    assert answer.status_code == 200
    assert answer.json() == booking_history(service, story.booking_id)
    refused = http.get(f"/bookings/{story.booking_id}/history", headers=as_(SERVICE))
    assert refused.status_code == 403 and refused.json()["code"] == "not_allowed"
    missing = http.get(f"/bookings/{story.room_id}/history", headers=as_(AUDITOR))
    assert missing.status_code == 404


def test_as_of_on_the_booking_and_the_credits_replays_the_events(
    http: httpx.Client, service: BookingService, story: Story
) -> None:
    then = iso(story.instants["confirmed"])
    booking = http.get(f"/bookings/{story.booking_id}", params={"as_of": then}, headers=as_(AUDITOR))
    assert booking.status_code == 200
    assert booking.json() == booking_as_of(service, story.booking_id, at=then)
    assert booking.json()["status"] == "confirmed"
    ledger = http.get(f"/members/{MEMBER}/credits", params={"as_of": then}, headers=as_(AUDITOR))
    assert ledger.json() == ledger_as_of(service, MEMBER, at=then)
    naive = http.get(
        f"/bookings/{story.booking_id}", params={"as_of": "2026-03-02T10:00"}, headers=as_(AUDITOR)
    )
    assert naive.status_code == 422 and "as_of" in naive.json()["detail"]

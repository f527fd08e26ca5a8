"""Changes the member did not make never cost the member, over HTTP: an operator cancelling for
them, the provider's proposals (made, accepted, declined, expired, superseded; in the booking,
the room view and the feed), and hours removed over a booked session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import MEMBER, PROVIDER, Api
from tests.e2e.test_http_errors import assert_problem

PROVIDER_ACTOR, MEMBER_ACTOR = f"provider:{PROVIDER}", f"member:{MEMBER}"
FREE_UNTIL = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)  # 48 hours before the booked start
SECOND = timedelta(seconds=1)
LATER = "2026-03-10T11:00:00Z"  # a Tuesday, inside the weekday hours
LATER_EXPIRES = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # 25 hours before it (24 h + 1 h to confirm)


def confirmed(api: Api, booked: dict[str, Any]) -> str:
    booking_id = str(booked["id"])
    assert api.post(f"/bookings/{booking_id}/confirm", actor=PROVIDER_ACTOR).status_code == 200
    return booking_id


def credits(api: Api, position: int) -> dict[str, Any]:
    return dict(api.get(f"/members/{MEMBER}/credits", params={"after": position}).json())


def feed_types(api: Api, booking_id: str) -> list[str]:
    page = api.get("/events", params={"booking": booking_id, "limit": 100}).json()
    return [event["type"] for event in page["events"]]


# --- operators act for the member -----------------------------------------------------------


def test_an_operator_cancels_for_the_member_late_and_free_recorded_as_the_operator_s_act(
    api: Api, booked: dict[str, Any]
) -> None:
    booking_id = confirmed(api, booked)
    api.clock.set(FREE_UNTIL + SECOND)
    body = {"reason": "member hospitalised; family called support"}
    cancelled = api.post(f"/bookings/{booking_id}/cancel", body, actor="operator:olga", role="operator")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled"), cancelled.text
    balance = credits(api, cancelled.json()["position"])
    assert (balance["available"], balance["forfeited"], balance["held"]) == (1, 0, 0)
    history = api.get(f"/bookings/{booking_id}/history", role="auditor").json()["events"]
    act = next(e for e in history if e["type"] == "CancelledForMember")
    assert (act["actor"], act["data"]["reason"]) == ("operator:olga", body["reason"])
    assert "CancelledForMember" in feed_types(api, booking_id)


def test_an_operator_cancel_without_a_reason_or_token_is_refused(api: Api, booked: dict[str, Any]) -> None:
    booking_id = confirmed(api, booked)
    before = api.head()
    no_reason = api.post(f"/bookings/{booking_id}/cancel", {}, actor="operator:olga", role="operator")
    assert "reason" in assert_problem(no_reason, 422, "invalid_input")["detail"]
    by_service = api.post(f"/bookings/{booking_id}/cancel", {"reason": "x"}, actor="operator:olga")
    assert_problem(by_service, 403, "not_allowed")
    assert api.head() == before


def test_an_operator_cannot_cancel_a_started_session(api: Api, booked: dict[str, Any]) -> None:
    booking_id = confirmed(api, booked)
    api.clock.set(datetime(2026, 3, 9, 10, 0, tzinfo=UTC))
    late = api.post(f"/bookings/{booking_id}/cancel", {"reason": "x"}, actor="operator:olga", role="operator")
    assert_problem(late, 409, "invalid_transition")


# --- providers propose, members accept ------------------------------------------------------


def propose(api: Api, booking_id: str, starts_at: str = LATER) -> dict[str, Any]:
    made = api.post(f"/bookings/{booking_id}/proposals", {"starts_at": starts_at}, actor=PROVIDER_ACTOR)
    assert made.status_code == 201, made.text
    return dict(made.json())


def test_a_proposal_accepted_after_the_48_hour_line_moves_the_session_confirmed_and_free(
    api: Api, booked: dict[str, Any]
) -> None:
    booking_id = confirmed(api, booked)
    api.clock.set(FREE_UNTIL + SECOND)
    proposal = propose(api, booking_id)
    assert (proposal["starts_at"], proposal["expires_at"], proposal["status"]) == (
        LATER,
        "2026-03-09T10:00:00Z",
        "open",
    )
    shown = api.get(f"/bookings/{booking_id}").json()["proposal"]
    assert (shown["id"], shown["status"]) == (proposal["id"], "open")
    room = api.get(f"/rooms/{booked['room_id']}", params={"after": proposal["position"]}).json()
    assert room["sessions"][0]["proposal"]["id"] == proposal["id"]

    accepted = api.post(f"/bookings/{booking_id}/proposals/{proposal['id']}/accept", actor=MEMBER_ACTOR)
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["status"], accepted.json()["starts_at"]) == ("confirmed", LATER)
    balance = credits(api, accepted.json()["position"])
    assert (balance["held"], balance["forfeited"], balance["available"]) == (1, 0, 0)
    room = api.get(f"/rooms/{booked['room_id']}", params={"after": accepted.json()["position"]}).json()
    assert (room["sessions"][0]["starts_at"], room["sessions"][0]["proposal"]) == (LATER, None)
    assert feed_types(api, booking_id)[-2:] == ["ProposalMade", "ProposalAccepted"]


def test_a_declined_proposal_changes_nothing_and_cannot_then_be_accepted(
    api: Api, booked: dict[str, Any]
) -> None:
    booking_id = confirmed(api, booked)
    proposal = propose(api, booking_id)
    declined = api.post(f"/bookings/{booking_id}/proposals/{proposal['id']}/decline", actor=MEMBER_ACTOR)
    assert (declined.status_code, declined.json()["status"]) == (200, "confirmed")
    state = api.get(f"/bookings/{booking_id}").json()
    assert (state["starts_at"], state["proposal"]) == ("2026-03-09T10:00:00Z", None)
    again = api.post(f"/bookings/{booking_id}/proposals/{proposal['id']}/accept", actor=MEMBER_ACTOR)
    assert_problem(again, 409, "invalid_transition")


def test_a_proposal_is_accepted_until_a_second_before_it_expires(api: Api, booked: dict[str, Any]) -> None:
    booking_id = confirmed(api, booked)
    proposal = propose(api, booking_id, "2026-03-06T11:00:00Z")  # expires 2026-03-05T10:00:00Z
    api.clock.set(datetime(2026, 3, 5, 10, 0, tzinfo=UTC))
    assert api.get(f"/bookings/{booking_id}").json()["proposal"]["status"] == "expired"
    expired = api.post(f"/bookings/{booking_id}/proposals/{proposal['id']}/accept", actor=MEMBER_ACTOR)
    assert "expired at 2026-03-05T10:00:00Z" in assert_problem(expired, 409, "invalid_transition")["detail"]
    api.clock.set(datetime(2026, 3, 5, 10, 0, tzinfo=UTC) - SECOND)
    accepted = api.post(f"/bookings/{booking_id}/proposals/{proposal['id']}/accept", actor=MEMBER_ACTOR)
    assert accepted.status_code == 200, accepted.text


def test_a_member_s_own_change_supersedes_the_proposal(api: Api, booked: dict[str, Any]) -> None:
    booking_id = confirmed(api, booked)
    proposal = propose(api, booking_id)
    moved = api.post(
        f"/bookings/{booking_id}/reschedule", {"starts_at": "2026-03-11T10:00:00Z"}, actor=MEMBER_ACTOR
    )
    assert moved.status_code == 200, moved.text
    assert api.get(f"/bookings/{booking_id}").json()["proposal"] is None
    stale = api.post(f"/bookings/{booking_id}/proposals/{proposal['id']}/accept", actor=MEMBER_ACTOR)
    assert "superseded" in assert_problem(stale, 409, "invalid_transition")["detail"]


@pytest.mark.parametrize(
    ("starts_at", "code"),
    [("2026-03-09T10:00:00Z", "same_start"), ("2026-03-10T20:00:00Z", "outside_availability")],
)
def test_a_proposal_must_be_a_start_the_provider_could_be_booked_at(
    api: Api, booked: dict[str, Any], starts_at: str, code: str
) -> None:
    booking_id = confirmed(api, booked)
    refused = api.post(f"/bookings/{booking_id}/proposals", {"starts_at": starts_at}, actor=PROVIDER_ACTOR)
    assert_problem(refused, 409, code)
    by_member = api.post(f"/bookings/{booking_id}/proposals", {"starts_at": LATER}, actor=MEMBER_ACTOR)
    assert_problem(by_member, 403, "not_allowed")


# --- hours removed over a booked session ----------------------------------------------------


def test_hours_removed_over_a_session_let_the_member_cancel_late_for_free(
    api: Api, booked: dict[str, Any]
) -> None:
    booking_id = confirmed(api, booked)
    mornings = [{"weekday": "monday", "start": "06:00", "end": "09:00"}]
    published = api.call(
        "PUT",
        f"/providers/{PROVIDER}/availability",
        json={"timezone": "Europe/London", "weekly": mornings},
        actor=PROVIDER_ACTOR,
    )
    assert published.status_code == 200, published.text
    assert api.get(f"/bookings/{booking_id}").json()["outside_availability"] is True
    room = api.get(f"/rooms/{booked['room_id']}", params={"after": published.json()["position"]}).json()
    assert room["sessions"][0]["outside_availability"] is True
    assert feed_types(api, booking_id)[-1] == "OutsideAvailabilityChanged"

    api.clock.set(FREE_UNTIL + SECOND)
    review = api.get(f"/bookings/{booking_id}/policy").json()
    assert (review["cancel"], review["requires_accept_forfeit"]) == ("free", False)
    cancelled = api.post(f"/bookings/{booking_id}/cancel", {}, actor=MEMBER_ACTOR)
    assert cancelled.status_code == 200, cancelled.text
    balance = credits(api, cancelled.json()["position"])
    assert (balance["available"], balance["forfeited"]) == (1, 0)


def test_the_provider_may_still_propose_for_a_session_outside_their_hours(
    api: Api, booked: dict[str, Any]
) -> None:
    booking_id = confirmed(api, booked)
    hours = [{"weekday": "tuesday", "start": "09:00", "end": "17:00"}]
    published = api.call(
        "PUT",
        f"/providers/{PROVIDER}/availability",
        json={"timezone": "Europe/London", "weekly": hours},
        actor=PROVIDER_ACTOR,
    )
    assert published.status_code == 200, published.text
    proposal = propose(api, booking_id)
    accepted = api.post(f"/bookings/{booking_id}/proposals/{proposal['id']}/accept", actor=MEMBER_ACTOR)
    assert accepted.status_code == 200, accepted.text
    assert api.get(f"/bookings/{booking_id}").json()["outside_availability"] is False

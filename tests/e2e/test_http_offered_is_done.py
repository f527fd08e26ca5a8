"""What is offered or previewed over HTTP is what the command then does: the same start is
``409 same_start``; a preview counts the member's credits (``no_credit_available``), and says
exactly what the reschedule command answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.conftest import MEMBER, PROVIDER, Api
from tests.e2e.test_http_errors import assert_problem

PROVIDER_ACTOR, MEMBER_ACTOR = f"provider:{PROVIDER}", f"member:{MEMBER}"
FREE_UNTIL = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)  # 48 hours before the booked start
SECOND = timedelta(seconds=1)


def confirm(api: Api, booked: dict[str, Any]) -> str:
    booking_id = str(booked["id"])
    assert api.post(f"/bookings/{booking_id}/confirm", actor=PROVIDER_ACTOR).status_code == 200
    return booking_id


def test_rescheduling_to_its_own_start_is_a_409_and_keeps_the_confirmation_and_the_credit(
    api: Api, booked: dict[str, Any]
) -> None:
    booking_id = confirm(api, booked)
    api.add_credits(count=1)
    for now, body in (
        (FREE_UNTIL - SECOND, {"starts_at": "2026-03-09T10:00:00Z"}),
        (FREE_UNTIL + SECOND, {"starts_at": "2026-03-09T10:00:00Z", "accept_forfeit": True}),
    ):
        api.clock.set(now)
        preview = api.get(f"/bookings/{booking_id}/policy", params={"starts_at": body["starts_at"]})
        assert preview.json()["reschedule_to"]["not_bookable"]["code"] == "same_start"
        before = api.head()
        refused = api.post(f"/bookings/{booking_id}/reschedule", body, actor=MEMBER_ACTOR)
        assert_problem(refused, 409, "same_start")
        assert api.head() == before
    state = api.get(f"/bookings/{booking_id}").json()
    assert (state["status"], state["forfeited_credits"]) == ("confirmed", 0)


def test_a_late_move_the_member_has_no_spare_credit_for_is_previewed_as_the_command_answers(
    api: Api, booked: dict[str, Any]
) -> None:
    booking_id = confirm(api, booked)
    api.clock.set(FREE_UNTIL)
    target = {"starts_at": "2026-03-10T10:00:00Z"}
    review = api.get(f"/bookings/{booking_id}/policy", params=target).json()["reschedule_to"]
    assert (review["bookable_now"], review["not_bookable"]["code"]) == (False, "no_credit_available")
    refused = api.post(
        f"/bookings/{booking_id}/reschedule", {**target, "accept_forfeit": True}, actor=MEMBER_ACTOR
    )
    assert_problem(refused, 409, "no_credit_available")

    api.add_credits(count=1)
    review = api.get(f"/bookings/{booking_id}/policy", params=target).json()["reschedule_to"]
    assert (review["bookable_now"], review["not_bookable"]) == (True, None)
    moved = api.post(
        f"/bookings/{booking_id}/reschedule", {**target, "accept_forfeit": True}, actor=MEMBER_ACTOR
    )
    assert moved.status_code == 200, moved.text


def test_a_free_move_needs_no_spare_credit(api: Api, booked: dict[str, Any]) -> None:
    booking_id = confirm(api, booked)
    api.clock.set(FREE_UNTIL - SECOND)
    review = api.get(f"/bookings/{booking_id}/policy", params={"starts_at": "2026-03-10T10:00:00Z"}).json()
    assert review["reschedule_to"]["bookable_now"] is True


def test_the_policy_preview_for_a_member_counts_their_credits(api: Api) -> None:
    room_id = api.open_room()
    api.publish_weekdays()
    params = {"starts_at": "2026-03-09T10:00:00Z", "member_id": MEMBER}
    preview = api.get("/policy/preview", params=params, role="auditor").json()
    assert (preview["bookable_now"], preview["not_bookable"]["code"]) == (False, "no_credit_available")
    assert_problem(api.reserve(room_id, "2026-03-09T10:00:00Z"), 409, "no_credit_available")
    assert (
        api.get("/policy/preview", params={"starts_at": params["starts_at"]}).json()["bookable_now"] is True
    )

    api.add_credits(count=1)
    assert api.get("/policy/preview", params=params).json()["bookable_now"] is True
    reserved = api.reserve(room_id, "2026-03-09T10:00:00Z")
    assert reserved.status_code == 201, reserved.text
    assert api.get("/policy/preview", params={**params, "starts_at": "2026-03-10T10:00:00Z"}).json()[
        "not_bookable"
    ]["code"] == ("no_credit_available")


def test_a_credit_held_by_a_booking_expired_but_not_yet_recorded_counts_as_available(api: Api) -> None:
    room_id = api.open_room()
    api.publish_weekdays()
    api.add_credits(count=1)
    pending = api.reserve(room_id, "2026-03-09T10:00:00Z")
    assert pending.status_code == 201, pending.text
    confirm_by = datetime.fromisoformat(pending.json()["confirm_by"])
    params = {"starts_at": "2026-03-12T10:00:00Z", "member_id": MEMBER}
    api.clock.set(confirm_by - SECOND)
    assert api.get("/policy/preview", params=params).json()["bookable_now"] is False
    api.clock.set(confirm_by)  # expired, and no scheduler runs here
    assert api.get("/policy/preview", params=params).json()["bookable_now"] is True
    assert api.reserve(room_id, "2026-03-12T10:00:00Z").status_code == 201

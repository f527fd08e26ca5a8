"""The member's whole story from the design page, told through the HTTP API on each backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.e2e.conftest import MEMBER, PROVIDER, Api

MEMBER_ACTOR, PROVIDER_ACTOR = f"member:{MEMBER}", f"provider:{PROVIDER}"


def test_a_member_books_reschedules_and_cancels_late_through_the_api(api: Api) -> None:
    room_id = api.open_room()
    api.publish_weekdays()
    bought = api.add_credits(count=1)
    credits = api.get(f"/members/{MEMBER}/credits", params={"after": bought["position"]})
    assert credits.status_code == 200
    assert credits.json()["available"] == 1

    options = api.get(
        f"/providers/{PROVIDER}/availability",
        params={"length": 45, "from": "2026-03-09T00:00:00Z", "to": "2026-03-09T23:59:00Z"},
    )
    assert options.status_code == 200
    starts = options.json()["starts"]
    assert starts[0] == "2026-03-09T09:00:00Z"

    reserved = api.reserve(room_id, starts[4])
    assert reserved.status_code == 201
    booking = reserved.json()
    assert booking["status"] == "pending_confirmation"
    assert booking["confirm_by"] == "2026-03-08T10:00:00Z"
    assert booking["free_until"] == "2026-03-07T10:00:00Z"
    booking_id = booking["id"]

    room = api.get(f"/rooms/{room_id}", params={"after": booking["position"]}).json()
    assert [(s["booking_id"], s["status"]) for s in room["sessions"]] == [
        (booking_id, "pending_confirmation")
    ]
    assert room["available_credits"] == 0
    assert api.get(f"/members/{MEMBER}/rooms").json()["rooms"][0]["id"] == room_id

    confirmed = api.post(f"/bookings/{booking_id}/confirm", actor=PROVIDER_ACTOR)
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "confirmed"

    api.clock.advance(timedelta(hours=2))
    moved = api.post(
        f"/bookings/{booking_id}/reschedule", {"starts_at": "2026-03-10T14:00:00+00:00"}, actor=MEMBER_ACTOR
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "pending_confirmation"
    assert moved.json()["free_until"] == "2026-03-08T14:00:00Z"
    assert api.post(f"/bookings/{booking_id}/confirm", actor=PROVIDER_ACTOR).status_code == 200

    api.clock.set(datetime(2026, 3, 8, 17, 0, tzinfo=UTC))
    review = api.get(f"/bookings/{booking_id}/policy")
    assert review.status_code == 200
    assert review.json()["cancel"] == "forfeit"
    assert review.json()["requires_accept_forfeit"] is True

    refused = api.post(f"/bookings/{booking_id}/cancel", {"reason": "work trip"}, actor=MEMBER_ACTOR)
    assert refused.status_code == 409
    assert refused.json()["code"] == "forfeit_not_acknowledged"
    cancelled = api.post(
        f"/bookings/{booking_id}/cancel", {"reason": "work trip", "accept_forfeit": True}, actor=MEMBER_ACTOR
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"

    balances = api.get(f"/members/{MEMBER}/credits", params={"after": cancelled.json()["position"]}).json()
    assert (balances["available"], balances["forfeited"]) == (0, 1)
    state = api.get(f"/bookings/{booking_id}", role="auditor").json()
    assert (state["status"], state["forfeited_credits"], state["allowed_actions"]) == ("cancelled", 1, [])

    revoked = api.post(
        f"/bookings/{booking_id}/revoke-forfeit",
        {"reason": "flight cancelled, documented"},
        role="operator",
        actor="operator:ops-1",
    )
    assert revoked.status_code == 200, revoked.text
    restored = api.get(f"/members/{MEMBER}/credits", params={"after": revoked.json()["position"]}).json()
    assert (restored["available"], restored["restored"]) == (1, 1)


def test_a_session_the_member_joins_is_completed_and_consumes_the_credit(api: Api) -> None:
    room_id = api.open_room()
    api.publish_weekdays()
    api.add_credits(count=1)
    booking_id = api.reserve(room_id, "2026-03-04T11:00:00Z").json()["id"]
    assert api.post(f"/bookings/{booking_id}/confirm", actor=PROVIDER_ACTOR).status_code == 200

    api.clock.set(datetime(2026, 3, 4, 10, 55, tzinfo=UTC))
    joined = api.post(f"/bookings/{booking_id}/joined", actor="platform:video")
    assert joined.status_code == 200, joined.text
    api.clock.set(datetime(2026, 3, 4, 11, 45, tzinfo=UTC))
    completed = api.post(f"/bookings/{booking_id}/complete", {}, actor=PROVIDER_ACTOR)
    assert completed.status_code == 200
    assert completed.json()["status"] == "completed"

    balances = api.get(f"/members/{MEMBER}/credits", params={"after": completed.json()["position"]}).json()
    assert (balances["consumed"], balances["held"], balances["available"]) == (1, 0, 0)
    room = api.get(f"/rooms/{room_id}", role="auditor").json()
    assert room["sessions"][0]["status"] == "completed"
    assert room["sessions"][0]["joined_at"] == "2026-03-04T10:55:00Z"


def test_a_provider_reported_no_show_of_the_member_forfeits_the_credit(api: Api) -> None:
    room_id = api.open_room()
    api.publish_weekdays()
    api.add_credits(count=1)
    booking_id = api.reserve(room_id, "2026-03-04T11:00:00Z").json()["id"]
    api.post(f"/bookings/{booking_id}/confirm", actor=PROVIDER_ACTOR)
    api.clock.set(datetime(2026, 3, 4, 11, 20, tzinfo=UTC))

    reported = api.post(f"/bookings/{booking_id}/no-show", {"absent_party": "member"}, actor=PROVIDER_ACTOR)

    assert reported.status_code == 200
    assert reported.json()["status"] == "no_show"
    assert api.get(f"/bookings/{booking_id}").json()["absent_party"] == "member"


def test_the_policy_in_force_names_its_numbers_and_version(api: Api) -> None:
    response = api.get("/policy", role="auditor")

    assert response.status_code == 200
    body = response.json()
    assert body["numbers"]["free_cancel_window"] == "P2D"
    assert body["version"].startswith("policy-")

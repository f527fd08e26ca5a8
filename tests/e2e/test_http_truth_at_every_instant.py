"""Every answer is true at the instant it is given, through the HTTP API on each backend:
the allowed actions of the booking read, the room view and the policy review agree with what
the commands accept, attendance respects what was recorded, offered starts can be confirmed,
and the policy can be reviewed before booking."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.e2e.conftest import MEMBER, PROVIDER, Api

MEMBER_ACTOR, PROVIDER_ACTOR = f"member:{MEMBER}", f"provider:{PROVIDER}"
START = datetime.fromisoformat("2026-03-09T10:00:00+00:00")


def actions_everywhere(api: Api, booked: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """The allowed actions as the booking read, the room view and the policy review give them."""
    booking = api.get(f"/bookings/{booked['id']}").json()
    room = api.get(f"/rooms/{booked['room_id']}", params={"after": api.head()}).json()
    review = api.get(f"/bookings/{booked['id']}/policy").json()
    return booking["allowed_actions"], room["sessions"][0]["allowed_actions"], review["allowed_actions"]


def test_a_confirmed_session_days_ahead_offers_no_attendance_and_a_started_one_no_change(
    api: Api, booked: dict[str, Any]
) -> None:
    assert api.post(f"/bookings/{booked['id']}/confirm", actor=PROVIDER_ACTOR).status_code == 200
    assert actions_everywhere(api, booked) == (["reschedule", "cancel"],) * 3
    assert api.post(f"/bookings/{booked['id']}/complete", actor=PROVIDER_ACTOR).status_code == 409

    api.clock.set(START)
    listed = ["joined"]  # no join of the member yet, and both late graces still running
    assert actions_everywhere(api, booked) == (listed,) * 3
    api.clock.set(START + timedelta(minutes=15))
    assert actions_everywhere(api, booked) == (["joined", "no-show"],) * 3
    api.clock.set(START)
    before = api.head()
    refused = api.post(f"/bookings/{booked['id']}/cancel", {"accept_forfeit": True}, actor=MEMBER_ACTOR)
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"
    assert api.head() == before


def test_after_the_session_end_deadline_nothing_is_offered_or_accepted_before_the_scheduler_runs(
    api: Api, booked: dict[str, Any]
) -> None:
    assert api.post(f"/bookings/{booked['id']}/confirm", actor=PROVIDER_ACTOR).status_code == 200
    api.clock.set(START + timedelta(minutes=45 + 30))
    booking = api.get(f"/bookings/{booked['id']}").json()
    assert (booking["status"], booking["allowed_actions"]) == ("no_show", [])
    before = api.head()
    completed = api.post(f"/bookings/{booked['id']}/complete", actor=PROVIDER_ACTOR)
    assert completed.status_code == 409 and completed.json()["code"] == "invalid_transition"
    absent = api.post(f"/bookings/{booked['id']}/no-show", {"absent_party": "provider"}, actor=MEMBER_ACTOR)
    assert absent.status_code == 409
    assert api.head() == before


def test_the_provider_cannot_report_a_member_absent_whose_join_was_recorded(
    api: Api, booked: dict[str, Any]
) -> None:
    assert api.post(f"/bookings/{booked['id']}/confirm", actor=PROVIDER_ACTOR).status_code == 200
    api.clock.set(START - timedelta(minutes=5))
    assert api.post(f"/bookings/{booked['id']}/joined", actor="platform:video").status_code == 200
    api.clock.set(START + timedelta(minutes=20))
    before = api.head()
    refused = api.post(f"/bookings/{booked['id']}/no-show", {"absent_party": "member"}, actor=PROVIDER_ACTOR)
    assert refused.status_code == 409
    assert "2026-03-09T09:55:00Z" in refused.json()["detail"]
    assert api.head() == before


def test_the_provider_can_be_reported_absent_only_after_the_late_grace(
    api: Api, booked: dict[str, Any]
) -> None:
    assert api.post(f"/bookings/{booked['id']}/confirm", actor=PROVIDER_ACTOR).status_code == 200
    api.clock.set(START + timedelta(minutes=15) - timedelta(seconds=1))
    too_soon = api.post(f"/bookings/{booked['id']}/no-show", {"absent_party": "provider"}, actor=MEMBER_ACTOR)
    assert too_soon.status_code == 409 and "2026-03-09T10:15:00Z" in too_soon.json()["detail"]
    api.clock.advance(timedelta(seconds=1))
    reported = api.post(f"/bookings/{booked['id']}/no-show", {"absent_party": "provider"}, actor=MEMBER_ACTOR)
    assert reported.status_code == 200, reported.text
    assert reported.json()["status"] == "no_show"


def test_the_earliest_offered_start_leaves_the_provider_an_hour_to_confirm(api: Api) -> None:
    room_id = api.open_room()
    api.publish_weekdays()
    api.add_credits(count=1)
    now = api.clock.now()  # Monday 09:00 UTC
    offered = api.get(
        f"/providers/{PROVIDER}/availability",
        params={"length": 45, "from": now.isoformat().replace("+00:00", "Z")},
    ).json()["starts"]
    assert offered[0] == "2026-03-03T10:00:00Z"  # 24 h of notice + 1 h to confirm
    too_soon = api.reserve(room_id, "2026-03-03T09:45:00Z")
    assert too_soon.status_code == 409 and too_soon.json()["code"] == "too_late_to_book"
    assert api.reserve(room_id, offered[0]).status_code == 201


def test_the_policy_can_be_reviewed_before_booking(api: Api) -> None:
    preview = api.get("/policy/preview", params={"starts_at": "2026-03-09T10:00:00Z", "length_minutes": 45})
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert (body["confirm_by"], body["free_until"], body["bookable_now"]) == (
        "2026-03-08T10:00:00Z",
        "2026-03-07T10:00:00Z",
        True,
    )
    assert [stage["change"] for stage in body["stages"]] == ["free", "forfeit", "not_allowed"]
    assert any("no-show" in s and "forfeited" in s for s in body["statements"])
    assert any("released" in s for s in body["statements"])

    too_soon = api.get("/policy/preview", params={"starts_at": "2026-03-03T09:30:00Z"}, role="auditor").json()
    assert too_soon["bookable_now"] is False and too_soon["not_bookable"]["code"] == "too_late_to_book"
    naive = api.get("/policy/preview", params={"starts_at": "2026-03-09T10:00:00"})
    assert naive.status_code == 422


def test_the_booking_policy_previews_a_reschedule_to_another_start(api: Api, booked: dict[str, Any]) -> None:
    review = api.get(f"/bookings/{booked['id']}/policy", params={"starts_at": "2026-03-10T11:00:00Z"}).json()
    assert review["reschedule"] == "free"
    assert review["reschedule_to"]["confirm_by"] == "2026-03-09T11:00:00Z"
    assert review["reschedule_to"]["bookable_now"] is True
    outside = api.get(f"/bookings/{booked['id']}/policy", params={"starts_at": "2026-03-10T20:00:00Z"}).json()
    assert outside["reschedule_to"]["not_bookable"]["code"] == "outside_availability"

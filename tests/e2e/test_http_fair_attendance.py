"""Attendance over HTTP, decided by presence: each party's presence is recorded through
``POST /bookings/{id}/joined``; the member has a late grace (here five seconds) before the
provider may report them absent; ``complete`` needs the member's join; a provider whose
presence is recorded cannot be reported absent. Every boundary is tried at ±1 s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.policy import Policy
from tests.e2e.conftest import MEMBER, PROVIDER, Api
from tests.e2e.test_http_errors import assert_problem

START = datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
MEMBER_GRACE = timedelta(seconds=5)
PROVIDER_GRACE = timedelta(seconds=10)
SHORT = Policy(member_late_grace=MEMBER_GRACE, provider_late_grace=PROVIDER_GRACE)


@pytest.fixture
def session(api: Api) -> str:
    """A confirmed session at ``START`` under the short graces; the clock at its start."""
    api.service.policy = SHORT
    room_id = api.open_room()
    api.publish_weekdays()
    api.add_credits(count=1)
    reserved = api.reserve(room_id, "2026-03-09T10:00:00Z")
    assert reserved.status_code == 201, reserved.text
    booking_id = str(reserved.json()["id"])
    assert api.post(f"/bookings/{booking_id}/confirm", actor=f"provider:{PROVIDER}").status_code == 200
    api.clock.set(START)
    return booking_id


def at(api: Api, instant: datetime) -> None:
    api.clock.set(instant)


def booking(api: Api, booking_id: str) -> dict[str, Any]:
    response = api.get(f"/bookings/{booking_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def member_absent(api: Api, booking_id: str) -> Any:
    return api.post(
        f"/bookings/{booking_id}/no-show", {"absent_party": "member"}, actor=f"provider:{PROVIDER}"
    )


def test_a_member_reported_absent_a_second_after_the_start_is_refused_and_their_join_counts(
    api: Api, session: str
) -> None:
    at(api, START + SECOND)
    before = api.head()
    refused = assert_problem(member_absent(api, session), 409, "invalid_transition")
    assert "2026-03-09T10:00:05Z" in refused["detail"]
    assert api.head() == before
    assert "no-show" not in booking(api, session)["allowed_actions"]
    at(api, START + 2 * SECOND)
    joined = api.post(f"/bookings/{session}/joined", {"party": "member"}, actor="platform:video")
    assert joined.status_code == 200, joined.text
    at(api, START + MEMBER_GRACE)
    assert_problem(member_absent(api, session), 409, "invalid_transition")
    assert booking(api, session)["allowed_actions"] == ["joined", "complete"]
    completed = api.post(f"/bookings/{session}/complete", actor=f"provider:{PROVIDER}")
    assert (completed.status_code, completed.json()["status"]) == (200, "completed")


def test_the_member_is_reported_absent_from_the_end_of_the_grace(api: Api, session: str) -> None:
    at(api, START + MEMBER_GRACE - SECOND)
    assert_problem(member_absent(api, session), 409, "invalid_transition")
    assert "no-show" not in booking(api, session)["allowed_actions"]
    at(api, START + MEMBER_GRACE)
    assert "no-show" in booking(api, session)["allowed_actions"]
    reported = member_absent(api, session)
    assert (reported.status_code, reported.json()["status"]) == (200, "no_show")
    credits = api.get(f"/members/{MEMBER}/credits", params={"after": reported.json()["position"]})
    assert (credits.json()["forfeited"], credits.json()["held"]) == (1, 0)


def test_a_session_the_member_never_joined_cannot_be_completed(api: Api, session: str) -> None:
    at(api, START + timedelta(minutes=20))
    assert "complete" not in booking(api, session)["allowed_actions"]
    refused = api.post(f"/bookings/{session}/complete", actor=f"provider:{PROVIDER}")
    assert "join" in assert_problem(refused, 409, "invalid_transition")["detail"]
    assert booking(api, session)["status"] == "confirmed"


@pytest.mark.parametrize("reporter", [f"member:{MEMBER}", "operator:olga"])
def test_a_provider_whose_presence_is_recorded_is_never_reported_absent(
    api: Api, session: str, reporter: str
) -> None:
    present = api.post(f"/bookings/{session}/joined", {"party": "provider"}, actor=f"provider:{PROVIDER}")
    assert present.status_code == 200, present.text
    assert booking(api, session)["provider_joined_at"] == "2026-03-09T10:00:00Z"
    room = api.get(f"/rooms/{booking(api, session)['room_id']}", params={"after": present.json()["position"]})
    assert room.json()["sessions"][0]["provider_joined_at"] == "2026-03-09T10:00:00Z"
    at(api, START + PROVIDER_GRACE)
    role = "operator" if reporter.startswith("operator") else "service"
    refused = api.post(
        f"/bookings/{session}/no-show", {"absent_party": "provider"}, actor=reporter, role=role
    )
    assert (
        "provider's presence was recorded at 2026-03-09T10:00:00Z"
        in assert_problem(refused, 409, "invalid_transition")["detail"]
    )


def test_without_the_provider_s_presence_the_member_reports_them_absent_from_their_grace(
    api: Api, session: str
) -> None:
    at(api, START + PROVIDER_GRACE - SECOND)
    body = {"absent_party": "provider"}
    assert_problem(
        api.post(f"/bookings/{session}/no-show", body, actor=f"member:{MEMBER}"), 409, "invalid_transition"
    )
    at(api, START + PROVIDER_GRACE)
    reported = api.post(f"/bookings/{session}/no-show", body, actor=f"member:{MEMBER}")
    assert (reported.status_code, reported.json()["status"]) == (200, "no_show")


@pytest.mark.parametrize(
    ("actor", "role"),
    [(f"member:{MEMBER}", "service"), ("provider:someone-else", "service"), ("operator:olga", "operator")],
)
def test_only_the_provider_or_the_platform_reports_the_provider_s_presence(
    api: Api, session: str, actor: str, role: str
) -> None:
    before = api.head()
    refused = api.post(f"/bookings/{session}/joined", {"party": "provider"}, actor=actor, role=role)
    assert_problem(refused, 403, "not_allowed")
    assert api.head() == before
    by_platform = api.post(f"/bookings/{session}/joined", {"party": "provider"}, actor="platform:video")
    assert by_platform.status_code == 200, by_platform.text


def test_the_provider_s_presence_is_recorded_only_inside_the_join_window(api: Api, session: str) -> None:
    opens = START - SHORT.join_opens_before
    at(api, opens - SECOND)
    early = api.post(f"/bookings/{session}/joined", {"party": "provider"}, actor=f"provider:{PROVIDER}")
    assert_problem(early, 409, "invalid_transition")
    at(api, opens)
    on_time = api.post(f"/bookings/{session}/joined", {"party": "provider"}, actor=f"provider:{PROVIDER}")
    assert on_time.status_code == 200, on_time.text
    assert booking(api, session)["provider_joined_at"] == "2026-03-09T09:45:00Z"

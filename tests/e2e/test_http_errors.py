"""Every error status of the API: a problem+json body with a code, and nothing written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import MEMBER, PROVIDER, Api

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = dict(response.json())
    assert body.keys() >= PROBLEM_FIELDS
    assert (body["status"], body["code"]) == (status, code)
    assert body["detail"]
    return body


def test_malformed_json_is_a_400_and_writes_nothing(api: Api, booked: dict[str, Any]) -> None:
    before = api.head()
    response = api.call(
        "POST",
        "/bookings",
        content=b'{"room_id": "x", "starts_at": ',
        headers={"content-type": "application/json"},
        actor=f"member:{MEMBER}",
    )
    assert_problem(response, 400, "malformed_json")
    assert api.head() == before


def test_a_naive_start_time_is_refused_naming_the_field(api: Api, booked: dict[str, Any]) -> None:
    before = api.head()
    response = api.reserve(booked["room_id"], "2026-03-10T10:00:00")
    body = assert_problem(response, 422, "invalid_input")
    assert "starts_at" in body["detail"] and "offset" in body["detail"]
    assert api.head() == before


@pytest.mark.parametrize(
    "body, named",
    [
        ({"starts_at": "2026-03-10T10:00:00Z", "length_minutes": "45", "format": "video"}, "length_minutes"),
        ({"starts_at": "2026-03-10T10:00:00Z", "length_minutes": 45, "format": "video", "vip": 1}, "vip"),
        ({"starts_at": "2026-03-10T10:00:00Z", "length_minutes": 45, "format": "hologram"}, "format"),
        ({"starts_at": "next tuesday", "length_minutes": 45, "format": "video"}, "starts_at"),
        ({"starts_at": "2026-03-10T10:00:00Z", "length_minutes": 45}, "format"),
    ],
    ids=["wrong-type", "unknown-field", "unknown-format", "not-an-instant", "missing-field"],
)
def test_bad_bodies_are_422_naming_the_field_and_write_nothing(
    api: Api, booked: dict[str, Any], body: dict[str, Any], named: str
) -> None:
    before = api.head()
    response = api.post("/bookings", {"room_id": booked["room_id"], **body}, actor=f"member:{MEMBER}")
    assert named in assert_problem(response, 422, "invalid_input")["detail"]
    assert api.head() == before


def test_a_body_over_64_kib_is_a_413_and_writes_nothing(api: Api) -> None:
    before = api.head()
    response = api.post("/rooms", {"member_id": "m" * 70_000, "provider_id": PROVIDER})
    assert_problem(response, 413, "body_too_large")
    assert api.head() == before


def test_an_unknown_booking_is_a_404(api: Api) -> None:
    assert_problem(api.get("/bookings/00000000-0000-0000-0000-000000000000"), 404, "not_found")
    assert_problem(api.post("/bookings/not-a-uuid/confirm", actor=f"provider:{PROVIDER}"), 404, "not_found")
    assert_problem(api.get("/rooms/nope"), 404, "not_found")
    assert_problem(api.get("/no/such/route"), 404, "not_found")


def test_a_second_reservation_of_the_same_slot_is_a_409(api: Api, booked: dict[str, Any]) -> None:
    api.add_credits(count=1)
    before = api.head()
    response = api.reserve(booked["room_id"], "2026-03-09T10:15:00Z")
    assert_problem(response, 409, "slot_unavailable")
    assert api.head() == before


def test_reserving_without_a_credit_is_a_409_that_says_why(api: Api, booked: dict[str, Any]) -> None:
    response = api.reserve(booked["room_id"], "2026-03-10T10:00:00Z")
    assert_problem(response, 409, "no_credit_available")


def test_confirming_twice_is_an_invalid_transition(api: Api, booked: dict[str, Any]) -> None:
    path = f"/bookings/{booked['id']}/confirm"
    assert api.post(path, actor=f"provider:{PROVIDER}").status_code == 200
    before = api.head()
    assert_problem(api.post(path, actor=f"provider:{PROVIDER}"), 409, "invalid_transition")
    assert api.head() == before


def test_a_command_without_x_actor_is_refused(api: Api, booked: dict[str, Any]) -> None:
    body = assert_problem(api.post(f"/bookings/{booked['id']}/confirm"), 422, "invalid_input")
    assert "X-Actor" in body["detail"]


def test_a_system_actor_cannot_be_claimed_over_http(api: Api, booked: dict[str, Any]) -> None:
    response = api.post(f"/bookings/{booked['id']}/cancel", actor="system:scheduler")
    assert_problem(response, 422, "invalid_input")


def test_reading_after_an_unrecorded_position_is_refused(api: Api, booked: dict[str, Any]) -> None:
    response = api.get(f"/rooms/{booked['room_id']}", params={"after": api.head() + 1000})
    assert_problem(response, 422, "invalid_input")


def test_a_naive_query_instant_is_refused_naming_the_parameter(api: Api) -> None:
    response = api.get(
        f"/providers/{PROVIDER}/availability",
        params={"length": 45, "from": "2026-03-09T09:00:00", "to": "2026-03-10T09:00:00Z"},
    )
    assert "from" in assert_problem(response, 422, "invalid_input")["detail"]


def test_the_wrong_method_is_a_405_problem(api: Api) -> None:
    assert_problem(api.call("DELETE", "/rooms"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "instant", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:00Z", "9999-12-31T23:00:00-02:00"]
)
def test_instants_at_the_ends_of_the_calendar_are_422_not_500(
    api: Api, booked: dict[str, Any], instant: str
) -> None:
    before = api.head()
    assert (
        "starts_at" in assert_problem(api.reserve(booked["room_id"], instant), 422, "invalid_input")["detail"]
    )
    response = api.get(f"/providers/{PROVIDER}/availability", params={"length": 45, "from": instant})
    assert "from" in assert_problem(response, 422, "invalid_input")["detail"]
    assert api.head() == before


@pytest.mark.parametrize(
    "path", ["/members/a%00b/credits", "/rooms/a%00b", "/members/a%00b/rooms", "/bookings/a%00b"]
)
def test_a_nul_character_in_a_path_id_is_a_422(api: Api, path: str) -> None:
    assert "control characters" in assert_problem(api.get(path), 422, "invalid_input")["detail"]


def test_a_nul_character_in_a_body_id_is_refused_before_it_reaches_the_store(api: Api) -> None:
    before = api.head()
    response = api.post("/rooms", {"member_id": "ma\u0000ya", "provider_id": PROVIDER})
    assert "member_id" in assert_problem(response, 422, "invalid_input")["detail"]
    assert api.head() == before

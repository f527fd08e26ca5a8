"""Bad values are refused at the edge, the same way on every route."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import MEMBER, PROVIDER, WEEKDAYS, Api
from tests.e2e.test_http_errors import assert_problem


@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules", "posix/Europe/London", "right/UTC"])
def test_time_zones_that_depend_on_the_host_are_refused(api: Api, zone: str) -> None:
    before = api.head()
    weekly = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in WEEKDAYS]
    response = api.call(
        "PUT",
        f"/providers/{PROVIDER}/availability",
        json={"timezone": zone, "weekly": weekly},
        actor=f"provider:{PROVIDER}",
    )
    assert "depends on the host" in assert_problem(response, 422, "invalid_input")["detail"]
    assert api.head() == before


def test_booking_and_room_ids_are_accepted_in_their_canonical_spelling_only(
    api: Api, booked: dict[str, Any]
) -> None:
    booking_id, room_id = booked["id"], booked["room_id"]
    assert api.get(f"/bookings/{booking_id}").status_code == 200
    assert api.get(f"/rooms/{room_id}").status_code == 200
    before = api.head()
    for spelling in (
        booking_id.upper(),
        booking_id.replace("-", ""),
        f"{{{booking_id}}}",
        f"urn:uuid:{booking_id}",
    ):
        assert_problem(api.get(f"/bookings/{spelling}"), 404, "not_found")
        assert_problem(api.get(f"/bookings/{spelling}/policy"), 404, "not_found")
        assert_problem(
            api.post(f"/bookings/{spelling}/confirm", actor=f"provider:{PROVIDER}"), 404, "not_found"
        )
    assert_problem(api.get(f"/rooms/{room_id.upper()}"), 404, "not_found")
    body = {
        "room_id": room_id.upper(),
        "starts_at": "2026-03-10T10:00:00Z",
        "length_minutes": 45,
        "format": "video",
    }
    assert_problem(api.post("/bookings", body, actor=f"member:{MEMBER}"), 404, "not_found")
    assert api.head() == before


@pytest.mark.parametrize("depth", [2_000, 10_000])  # under the 64 KiB body limit
def test_deeply_nested_json_is_malformed_json(api: Api, depth: int) -> None:
    before = api.head()
    for body in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        response = api.call("POST", "/rooms", content=body, headers={"content-type": "application/json"})
        assert_problem(response, 400, "malformed_json")
    assert api.head() == before


def test_a_405_lists_every_method_the_path_allows(api: Api) -> None:
    response = api.call("DELETE", f"/providers/{PROVIDER}/availability")
    body = assert_problem(response, 405, "method_not_allowed")
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert {"GET", "PUT"} <= allowed
    assert "GET" in body["detail"] and "PUT" in body["detail"]
    response = api.call("PATCH", "/rooms")
    assert assert_problem(response, 405, "method_not_allowed") and "POST" in response.headers["Allow"]

"""Offered starts over HTTP on each backend: touching windows are one stretch, around-the-clock
providers are bookable across midnight, ``excluding`` offers a rescheduling member their own
slot, and the hour the clocks skip offers nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import MEMBER, PROVIDER, Api
from tests.e2e.test_http_errors import assert_problem

AS_PROVIDER = f"provider:{PROVIDER}"


def publish(api: Api, weekly: list[dict[str, str]], timezone: str = "UTC") -> None:
    response = api.call(
        "PUT",
        f"/providers/{PROVIDER}/availability",
        json={"timezone": timezone, "weekly": weekly},
        actor=AS_PROVIDER,
    )
    assert response.status_code == 200, response.text


def offered(api: Api, length: int, day: str, actor: str | None = None, **params: Any) -> list[str]:
    response = api.get(
        f"/providers/{PROVIDER}/availability",
        params={"length": length, "from": f"{day}T00:00:00Z", "to": f"{day}T23:59:00Z", **params},
        actor=actor,
    )
    assert response.status_code == 200, response.text
    return list(response.json()["starts"])


def reserve(api: Api, room_id: str, starts_at: str, length: int) -> Any:
    body = {"room_id": room_id, "starts_at": starts_at, "length_minutes": length, "format": "video"}
    return api.post("/bookings", body, actor=f"member:{MEMBER}")


def test_touching_windows_are_one_stretch(api: Api) -> None:
    room_id = api.open_room()
    publish(
        api,
        [
            {"weekday": "friday", "start": "09:00", "end": "12:00"},
            {"weekday": "friday", "start": "12:00", "end": "17:00"},
        ],
    )
    api.add_credits()
    assert "2026-03-06T11:30:00Z" in offered(api, 60, "2026-03-06")
    booked = reserve(api, room_id, "2026-03-06T11:30:00Z", 60)
    assert booked.status_code == 201, booked.text


def test_an_around_the_clock_provider_is_bookable_at_a_quarter_to_midnight(api: Api) -> None:
    room_id = api.open_room()
    publish(api, [{"weekday": day, "start": "00:00", "end": "24:00"} for day in ("friday", "saturday")])
    api.add_credits()
    assert "2026-03-06T23:45:00Z" in offered(api, 30, "2026-03-06")
    booked = reserve(api, room_id, "2026-03-06T23:45:00Z", 30)
    assert booked.status_code == 201, booked.text
    assert booked.json()["ends_at"] == "2026-03-07T00:15:00Z"


def test_a_rescheduling_member_is_offered_their_own_slot(api: Api) -> None:
    room_id = api.open_room()
    publish(api, [{"weekday": "friday", "start": "09:00", "end": "12:00"}])
    api.add_credits()
    booking_id = reserve(api, room_id, "2026-03-06T10:00:00Z", 60).json()["id"]
    assert "2026-03-06T10:30:00Z" not in offered(api, 60, "2026-03-06")
    mine = offered(api, 60, "2026-03-06", excluding=booking_id, actor=f"member:{MEMBER}")
    assert mine == [f"2026-03-06T{9 + i // 4:02d}:{15 * (i % 4):02d}:00Z" for i in range(9)]
    assert offered(api, 60, "2026-03-06", excluding=booking_id, actor=f"provider:{PROVIDER}") == mine
    moved = api.post(
        f"/bookings/{booking_id}/reschedule", {"starts_at": "2026-03-06T10:30:00Z"}, actor=f"member:{MEMBER}"
    )
    assert moved.status_code == 200, moved.text


@pytest.mark.parametrize(
    ("excluding", "status", "code"),
    [("00000000-0000-4000-8000-000000000000", 404, "not_found"), ("x\u0001", 422, "invalid_input")],
)
def test_excluding_an_unknown_booking_is_refused(api: Api, excluding: str, status: int, code: str) -> None:
    publish(api, [{"weekday": "friday", "start": "09:00", "end": "12:00"}])
    response = api.get(
        f"/providers/{PROVIDER}/availability",
        params={"length": 60, "from": "2026-03-06T00:00:00Z", "excluding": excluding},
        actor=f"member:{MEMBER}",
    )
    assert_problem(response, status, code)


@pytest.mark.parametrize(
    ("actor", "role"), [("member:someone-else", "service"), ("provider:dr-lee", "service"), (None, "service")]
)
def test_only_the_booking_s_member_provider_or_an_operator_sees_what_its_slot_frees(
    api: Api, actor: str | None, role: str
) -> None:
    room_id = api.open_room()
    publish(api, [{"weekday": "friday", "start": "09:00", "end": "12:00"}])
    api.add_credits()
    booking_id = reserve(api, room_id, "2026-03-06T10:00:00Z", 60).json()["id"]
    params = {"length": 60, "from": "2026-03-06T00:00:00Z", "excluding": booking_id}
    refused = api.get(f"/providers/{PROVIDER}/availability", params=params, actor=actor, role=role)
    assert_problem(refused, 403, "not_allowed")
    by_operator = api.get(
        f"/providers/{PROVIDER}/availability", params=params, actor="operator:olga", role="operator"
    )
    assert by_operator.status_code == 200, by_operator.text
    assert "2026-03-06T10:30:00Z" in by_operator.json()["starts"]


def test_the_hour_the_clocks_skip_offers_no_start(api: Api) -> None:
    api.clock.set(datetime(2026, 3, 23, 9, tzinfo=UTC))
    room_id = api.open_room()
    publish(api, [{"weekday": "sunday", "start": "00:00", "end": "04:00"}], timezone="Europe/London")
    api.add_credits()
    starts = offered(api, 30, "2026-03-29")
    london = [
        datetime.fromisoformat(s).astimezone(ZoneInfo("Europe/London")).strftime("%H:%M") for s in starts
    ]
    assert london[:5] == ["00:00", "00:15", "00:30", "00:45", "02:00"]
    assert not any(w.startswith("01:") for w in london) and len(starts) == 11
    # 01:30 "London time" written with BST's offset names 00:30Z, shown in London as 00:30 GMT
    booked = reserve(api, room_id, "2026-03-29T01:30:00+01:00", 30)
    assert booked.status_code == 201 and booked.json()["starts_at"] == "2026-03-29T00:30:00Z"


def test_a_window_inside_the_skipped_hour_offers_and_accepts_nothing(api: Api) -> None:
    api.clock.set(datetime(2026, 3, 23, 9, tzinfo=UTC))
    room_id = api.open_room()
    publish(api, [{"weekday": "sunday", "start": "01:00", "end": "02:00"}], timezone="Europe/London")
    api.add_credits()
    assert offered(api, 30, "2026-03-29") == []
    before = api.head()
    for starts_at in ("2026-03-29T01:30:00+01:00", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"):
        assert_problem(reserve(api, room_id, starts_at, 30), 409, "outside_availability")
    assert api.head() == before

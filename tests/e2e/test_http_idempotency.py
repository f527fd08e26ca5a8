"""Idempotency-Key: a retried write returns the first response and writes nothing."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from tests.e2e.conftest import MEMBER, PROVIDER, TOKENS, Api
from tests.e2e.test_http_errors import assert_problem


def test_a_retried_reservation_returns_the_first_response_and_writes_nothing(api: Api) -> None:
    room_id = api.open_room()
    api.publish_weekdays()
    api.add_credits(count=2)

    first = api.reserve(room_id, "2026-03-09T10:00:00Z", key="reserve-1")
    after_first = api.head()
    again = api.reserve(room_id, "2026-03-09T10:00:00+00:00", key="reserve-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert api.head() == after_first
    balances = api.get(f"/members/{MEMBER}/credits", params={"after": after_first}).json()
    assert (balances["held"], balances["available"]) == (1, 1)


def test_the_same_key_with_another_body_is_a_422_and_writes_nothing(api: Api) -> None:
    room_id = api.open_room()
    api.publish_weekdays()
    api.add_credits(count=2)
    assert api.reserve(room_id, "2026-03-09T10:00:00Z", key="reserve-1").status_code == 201
    before = api.head()

    response = api.reserve(room_id, "2026-03-09T11:00:00Z", key="reserve-1")

    assert_problem(response, 422, "idempotency_conflict")
    assert api.head() == before


def test_one_key_on_two_routes_names_two_commands(api: Api) -> None:
    room = api.post("/rooms", {"member_id": MEMBER, "provider_id": PROVIDER}, key="k-1")
    credits = api.post(
        f"/members/{MEMBER}/credits", {"source": "employer", "count": 1, "reference": "grant-1"}, key="k-1"
    )

    assert (room.status_code, credits.status_code) == (201, 200)
    assert credits.json()["balance"]["available"] == 1


def test_a_retried_cancel_after_success_is_answered_not_refused(api: Api, booked: dict[str, Any]) -> None:
    path = f"/bookings/{booked['id']}/cancel"
    first = api.post(path, {"reason": "ill"}, actor=f"member:{MEMBER}", key="cancel-1")
    again = api.post(path, {"reason": "ill"}, actor=f"member:{MEMBER}", key="cancel-1")

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    # without the key, the same request is a new command that the booking refuses
    assert_problem(api.post(path, {"reason": "ill"}, actor=f"member:{MEMBER}"), 409, "invalid_transition")


def test_eight_concurrent_requests_with_one_key_reserve_once(api: Api) -> None:
    room_id = api.open_room()
    api.publish_weekdays()
    api.add_credits(count=8)
    body = {"room_id": room_id, "starts_at": "2026-03-09T10:00:00Z", "length_minutes": 45, "format": "video"}
    headers = {
        "Authorization": f"Bearer {TOKENS['service']}",
        "X-Actor": f"member:{MEMBER}",
        "Idempotency-Key": "one-key-for-eight",
    }
    start = threading.Barrier(8)
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def send() -> None:
        with httpx.Client(base_url=api.base_url, timeout=60) as client:
            start.wait()
            response = client.post("/bookings", json=body, headers=headers)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len({r.text for r in responses}) == 1  # the same first response, byte for byte
    head = max(r.json()["position"] for r in responses)
    balances = api.get(f"/members/{MEMBER}/credits", params={"after": head}).json()
    assert (balances["held"], balances["available"]) == (1, 7)
    room = api.get(f"/rooms/{room_id}", params={"after": head}).json()
    assert len(room["sessions"]) == 1

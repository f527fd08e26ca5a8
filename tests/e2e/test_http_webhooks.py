"""Webhooks end to end: operators register endpoints over HTTP, the deliverer posts every event,
and a real receiver verifies each signature with the ``standardwebhooks`` package."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from commands.clock import SystemClock
from domain.webhooks import WebhookRegistry
from tests.e2e.conftest import MEMBER, PROVIDER, Api
from tests.polling import wait_until
from tests.receiver import Receiver, receiver
from webhooks.delivery import Deliverer, DeliverySettings, RetryPolicy
from webhooks.store import WebhookStore

FAST = DeliverySettings(
    poll_interval=0.05, refresh_interval=0.05, timeout=5, retry=RetryPolicy(base=0.01, cap=0.05)
)


@pytest.fixture
def delivering(api: Api) -> Iterator[Deliverer]:
    deliverer = Deliverer(api.service, WebhookStore(api.app_state.read_models.engine), SystemClock(), FAST)
    stop = threading.Event()
    thread = threading.Thread(target=deliverer.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        yield deliverer
    finally:
        stop.set()
        thread.join(timeout=20)


def register(api: Api, url: str, **body: Any) -> dict[str, Any]:
    response = api.post("/webhooks", {"url": url, **body}, role="operator")
    assert response.status_code == 201, response.text
    return dict(response.json())


def feed_after(api: Api, after: int) -> list[dict[str, Any]]:
    return list(api.get("/events", params={"after": after, "limit": 1000}).json()["events"])


def first_arrivals(hook: Receiver) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for received in hook.accepted():
        seen.setdefault(received.webhook_id, received.event)
    return list(seen.values())


def member_story(api: Api) -> str:
    room_id = api.open_room()
    api.publish_weekdays()
    api.add_credits(count=2)
    booking_id = str(api.reserve(room_id, "2026-03-09T10:00:00Z").json()["id"])
    api.clock.advance(timedelta(hours=1))
    assert api.post(f"/bookings/{booking_id}/confirm", actor=f"provider:{PROVIDER}").status_code == 200
    moved = api.post(
        f"/bookings/{booking_id}/reschedule", {"starts_at": "2026-03-10T11:00:00Z"}, actor=f"member:{MEMBER}"
    )
    assert moved.status_code == 200, moved.text
    assert api.post(f"/bookings/{booking_id}/cancel", {}, actor=f"member:{MEMBER}").status_code == 200
    return booking_id


def test_a_receiver_verifies_every_event_of_a_member_story_in_order(
    api: Api, delivering: Deliverer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with receiver() as hook:
        created = register(api, hook.url, description="provider notifications")
        hook.secret = created["secret"]
        assert created["secret"].startswith("whsec_") and created["status"] == "active"

        booking_id = member_story(api)
        expected = feed_after(api, created["from_position"] - 1)
        hook.wait_for(lambda h: h.accepted_ids() >= {e["id"] for e in expected})

        assert all(r.verified for r in hook.received), "every signature verifies"
        assert [e["id"] for e in first_arrivals(hook)] == [e["id"] for e in expected]
        for_booking = [e["type"] for e in first_arrivals(hook) if e["booking_id"] == booking_id]
        assert for_booking == ["SessionReserved", "ProviderConfirmed", "Rescheduled", "Cancelled"]
        assert all(r.webhook_id == r.event["id"] for r in hook.received)

        listed = api.get("/webhooks", role="operator")
        assert listed.status_code == 200
        assert [w["id"] for w in listed.json()["webhooks"]] == [created["id"]]
        deliveries = recorded_attempts(api, created["id"], at_least=len(expected), role="auditor")
        assert deliveries and all(d["status_code"] == 200 and d["error"] is None for d in deliveries)
        assert all(len(d["response_excerpt"]) <= 200 for d in deliveries)

        reads = [listed.text, api.get(f"/webhooks/{created['id']}", role="operator").text]
        reads.append(api.get("/events", role="operator").text)
        assert not any(created["secret"] in text for text in reads), "the secret is never read back"
        assert created["secret"] not in caplog.text, "the secret never reaches a log line"


def test_a_rotated_secret_signs_from_then_on_and_a_replay_resends_with_the_same_ids(
    api: Api, delivering: Deliverer
) -> None:
    with receiver() as hook:
        created = register(api, hook.url, types=["RoomOpened"])
        hook.secret = created["secret"]
        room = api.open_room()
        hook.wait_for(lambda h: len(h.accepted()) == 1)

        rotated = api.post(f"/webhooks/{created['id']}/rotate-secret", role="operator")
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["secret"] != created["secret"]
        hook.secret = rotated.json()["secret"]
        api.open_room(member="omar")
        hook.wait_for(lambda h: len(h.accepted()) == 2)
        assert all(r.verified for r in hook.received)
        assert next(r.event["room_id"] for r in hook.accepted()) == room

        replay = api.post(
            f"/webhooks/{created['id']}/replay", params={"from": created["from_position"]}, role="operator"
        )
        assert replay.status_code == 202, replay.text
        hook.wait_for(lambda h: len(h.accepted()) == 4)
        ids = [r.webhook_id for r in hook.accepted()]
        assert ids[2:] == ids[:2], "a replay sends the same events with the same webhook-id"
        assert all(r.verified for r in hook.received)


def test_registering_needs_an_operator_and_an_http_url(api: Api) -> None:
    for role in ("service", "auditor"):
        response = api.post("/webhooks", {"url": "https://example.com/h"}, role=role)
        assert response.status_code == 403, response.text
    head = api.head()
    for url in (
        "ftp://example.com/h",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "gopher://example.com",
        "http:///nohost",
        "https://user:pw@example.com/h",
        "example.com/h",
    ):
        response = api.post("/webhooks", {"url": url}, role="operator")
        assert response.status_code == 422, (url, response.text)
        assert response.json()["code"] == "invalid_input"
    unknown_type = api.post("/webhooks", {"url": "https://example.com/h", "types": ["Nope"]}, role="operator")
    assert unknown_type.status_code == 422
    assert api.head() == head, "a refused registration records nothing"
    assert api.get("/webhooks", role="service").status_code == 403


def test_a_removed_endpoint_is_gone_and_its_removal_is_an_event(api: Api) -> None:
    created = register(api, "https://example.com/hooks")
    removed = api.call("DELETE", f"/webhooks/{created['id']}", role="operator")
    assert removed.status_code == 200, removed.text
    assert api.get(f"/webhooks/{created['id']}", role="operator").status_code == 404
    assert api.get("/webhooks", role="operator").json()["webhooks"] == []
    assert api.call("DELETE", f"/webhooks/{created['id']}", role="operator").status_code == 404
    registry: WebhookRegistry = api.service.repository.get(WebhookRegistry.id_for())
    assert registry.version == 3  # opened, registered, removed: each an event


def test_redirects_are_not_followed_and_link_local_addresses_are_never_reached(
    api: Api, delivering: Deliverer
) -> None:
    with receiver() as hook:
        hook.answer = lambda n: 302
        created = register(api, hook.url, types=["RoomOpened"])
        metadata = register(api, "http://169.254.169.254/latest/meta-data", types=["RoomOpened"])
        api.open_room()
        hook.wait_for(lambda h: len(h.received) >= 2)
        assert all(r.status == 302 for r in hook.received)
        deliveries = recorded_attempts(api, created["id"])
        assert deliveries[0]["status_code"] == 302
        assert "redirects are not followed" in deliveries[0]["error"]
        refused = recorded_attempts(api, metadata["id"])
        assert refused[0]["status_code"] is None
        assert "never reach" in refused[0]["error"]
        assert {r.path for r in hook.received} == {"/hooks"}, "the redirect was never followed"


def recorded_attempts(
    api: Api, endpoint_id: str, at_least: int = 1, role: str = "operator"
) -> list[dict[str, Any]]:
    """The endpoint's recorded delivery attempts, once there are ``at_least``: the deliverer records
    an attempt after its answer (a failure's within about a second), so poll with a deadline."""

    def found() -> list[dict[str, Any]] | None:
        listed = list(api.get(f"/webhooks/{endpoint_id}/deliveries", role=role).json()["deliveries"])
        return listed if len(listed) >= at_least else None

    what = f"{at_least} attempts recorded for webhook {endpoint_id}"
    attempts = wait_until(found, what=what, interval=0.05)
    assert attempts is not None
    return attempts

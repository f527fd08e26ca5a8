"""The feed over HTTP: ordered, complete, typed, filterable, and long-polling on commit."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta
from typing import Any

from entrypoints.http.events import MAX_WAIT
from feed.public import PUBLIC_TYPES, validate_event
from tests.e2e.conftest import MEMBER, PROVIDER, Api


def read_all(api: Api, after: int = 0, **params: Any) -> tuple[list[dict[str, Any]], int]:
    events: list[dict[str, Any]] = []
    while True:
        response = api.get("/events", params={"after": after, "limit": 50, **params})
        assert response.status_code == 200, response.text
        page = response.json()
        events += page["events"]
        assert page["next_after"] >= after
        if page["next_after"] == after:
            return events, after
        after = page["next_after"]


def test_the_feed_tells_a_member_story_in_order_in_the_public_shape(api: Api, booked: dict[str, Any]) -> None:
    booking_id = booked["id"]
    api.clock.advance(timedelta(hours=1))
    assert api.post(f"/bookings/{booking_id}/confirm", actor=f"provider:{PROVIDER}").status_code == 200

    events, last = read_all(api)

    assert last == api.head()
    positions = [e["position"] for e in events]
    assert positions == sorted(set(positions))
    assert [e["type"] for e in events] == [
        "RoomOpened",
        "AvailabilityPublished",
        "CreditsAdded",
        "SessionReserved",
        "ProviderConfirmed",
    ]
    for event in events:
        validate_event(event)  # each matches its declared schema exactly
    reserved, confirmed = events[3], events[4]
    assert reserved["booking_id"] == confirmed["booking_id"] == booking_id
    assert confirmed["member_id"] == MEMBER and confirmed["provider_id"] == PROVIDER
    assert confirmed["room_id"] == booked["room_id"]
    assert confirmed["actor"] == f"provider:{PROVIDER}"
    assert reserved["data"]["starts_at"] == "2026-03-09T10:00:00Z"
    assert reserved["data"]["free_until"] == "2026-03-07T10:00:00Z"
    # the same event read twice has the same id
    again = api.get("/events", params={"after": reserved["position"] - 1, "limit": 1}).json()["events"]
    assert again[0]["id"] == reserved["id"]


def test_filters_move_past_what_they_leave_out(api: Api, booked: dict[str, Any]) -> None:
    other_room = api.open_room(member="omar")
    head = api.head()

    page = api.get("/events", params={"types": "SessionReserved,ProviderConfirmed"}).json()
    assert [e["type"] for e in page["events"]] == ["SessionReserved"]
    assert page["next_after"] == head

    mine = api.get("/events", params={"member": MEMBER}).json()["events"]
    assert {e["member_id"] for e in mine} == {MEMBER}
    assert other_room not in {e["room_id"] for e in mine}
    theirs = api.get("/events", params={"member": "omar"}).json()
    assert [e["room_id"] for e in theirs["events"]] == [other_room]
    assert theirs["next_after"] == head

    only_booking = api.get("/events", params={"booking": booked["id"]}).json()["events"]
    assert [e["type"] for e in only_booking] == ["SessionReserved"]
    by_provider = api.get("/events", params={"provider": PROVIDER}).json()["events"]
    assert "AvailabilityPublished" in {e["type"] for e in by_provider}


BAD_QUERIES = [
    ({"types": "SessionReserved,Teleported"}, "Teleported"),
    ({"member": "a", "provider": "b"}, "one of"),
    ({"wait": 31}, "wait"),
    ({"limit": 0}, "limit"),
    ({"after": 10_000}, "beyond"),
]


def test_bad_feed_queries_are_refused_clearly(api: Api) -> None:
    for params, fragment in BAD_QUERIES:
        response = api.get("/events", params=params)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "invalid_input"
        assert fragment in response.json()["detail"]


def test_the_feed_needs_a_token_but_any_role_reads_it(api: Api) -> None:
    assert api.get("/events", role=None).status_code == 401
    for role in ("service", "auditor", "operator"):
        assert api.get("/events", role=role).status_code == 200


def test_every_public_type_is_documented_as_its_own_schema(api: Api) -> None:
    document = api.get("/openapi.json", role=None).json()
    operation = document["paths"]["/events"]["get"]
    assert operation["operationId"] == "list_events"
    schemas = document["components"]["schemas"]
    for name in PUBLIC_TYPES:
        assert schemas[f"{name}Event"]["properties"]["type"]["const"] == name
    union = schemas["EventPage"]["properties"]["events"]["items"]
    assert union["discriminator"]["propertyName"] == "type"
    assert len(union["oneOf"]) == len(PUBLIC_TYPES)


LONG_WAIT = MAX_WAIT
"""A long-poll's wait in the tests (the longest allowed, 30 s): far longer than any busy machine
takes to answer a commit, so an answer well inside it can only have been woken by the commit."""


def test_a_long_poll_answers_when_an_event_is_committed_not_when_its_wait_ends(api: Api) -> None:
    """Arrival and content only; how fast it answers is measured by ``bench.feed``."""
    after = api.head()
    answered: dict[str, Any] = {}

    def poll() -> None:
        response = api.get("/events", params={"after": after, "wait": LONG_WAIT}, timeout=LONG_WAIT + 30)
        answered["at"] = time.monotonic()
        answered["response"] = response

    poller = threading.Thread(target=poll)
    poller.start()
    signal_waiting(api)
    api.service.add_credits(MEMBER, "purchase", 1, "order-9")
    committed = time.monotonic()
    poller.join(timeout=LONG_WAIT + 30)

    response = answered["response"]
    assert response.status_code == 200
    assert [e["type"] for e in response.json()["events"]] == ["CreditsAdded"]
    assert answered["at"] - committed < LONG_WAIT / 2, "answered by its wait running out, not by the commit"


def test_a_long_poll_with_nothing_new_answers_empty_when_the_wait_is_over(api: Api) -> None:
    after = api.head()
    started = time.monotonic()
    page = api.get("/events", params={"after": after, "wait": 0.3}).json()
    assert time.monotonic() - started >= 0.3  # it waited; how much longer is a busy machine's business
    assert page == {"events": [], "next_after": after, "head": after}


def test_nothing_committed_is_missing_under_eight_concurrent_writers(api: Api) -> None:
    writers, commands = 8, 25
    positions: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(writers)
    received: list[dict[str, Any]] = []
    done = threading.Event()

    def write(n: int) -> None:
        start.wait()
        for i in range(commands):
            outcome = api.service.add_credits(f"writer-{n}", "purchase", 1, f"ref-{n}-{i}")
            with lock:
                positions.append(outcome["position"])

    def follow() -> None:
        after = 0
        while True:
            finished = done.is_set()
            page = api.get("/events", params={"after": after, "limit": 37, "wait": 0.2}).json()
            received.extend(page["events"])
            after = page["next_after"]
            if finished and after == page["head"]:
                return

    follower = threading.Thread(target=follow)
    follower.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    follower.join(timeout=60)

    seen = [e["position"] for e in received]
    assert all(a < b for a, b in itertools.pairwise(seen)), "positions strictly increase"
    assert set(positions) <= set(seen), "every committed write is in the feed"
    assert len([e for e in received if e["type"] == "CreditsAdded"]) == writers * commands


def signal_waiting(api: Api, timeout: float = 30.0) -> None:
    """Poll (with a deadline) until the API holds a long-poll waiter."""
    app_state = api.app_state
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        signal = getattr(app_state, "commit_signal", None)
        if signal is not None and signal._waiters:
            return
        time.sleep(0.005)
    raise AssertionError("the long-poll never started waiting")
